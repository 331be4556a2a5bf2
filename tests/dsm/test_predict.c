/*
 * The fault-path predictor (src/dsm/predict.h) on hand-written traces:
 * each step gives a fault (page, write?, present?) and the decision the
 * policy must make (ask for write access?, how many pages to read ahead).
 */
#include <stdio.h>
#include <stdlib.h>

#include "predict.h"

typedef struct step {
    uint64_t page;
    int      write, present;
    int      want_write;
    unsigned want_ahead;
} step_t;

static int run(const char *name, const step_t *t, size_t n, unsigned window)
{
    dm_predict_t p = DM_PREDICT_INIT;
    size_t i;

    for (i = 0; i < n; i++) {
        dm_predict_decision_t d = dm_predict_fault(&p, t[i].page, t[i].write, t[i].present, window);

        if (d.write != t[i].want_write || d.ahead != t[i].want_ahead) {
            fprintf(stderr, "%s: step %zu (page %llu, %s, %s): write %d ahead %u, want %d %u\n",
                    name, i, (unsigned long long)t[i].page, t[i].write ? "write" : "read",
                    t[i].present ? "present" : "absent", d.write, d.ahead, t[i].want_write,
                    t[i].want_ahead);
            return 1;
        }
    }
    printf("ok: %s (%zu faults)\n", name, n);
    return 0;
}

#define RUN(name, window, ...)                                                   \
    do {                                                                         \
        static const step_t t_[] = { __VA_ARGS__ };                              \
        fails += run(name, t_, sizeof(t_) / sizeof(t_[0]), window);              \
    } while (0)

int main(void)
{
    int fails = 0;

    /* a forward walk of reads: the second fault starts the read-ahead */
    RUN("sequential reads", 8,
        { 10, 0, 0, 0, 0 }, { 11, 0, 0, 0, 8 }, { 20, 0, 0, 0, 8 }, { 29, 0, 0, 0, 8 });
    /* past the window, or backwards: no read-ahead */
    RUN("jumps", 8,
        { 10, 0, 0, 0, 0 }, { 30, 0, 0, 0, 0 }, { 29, 0, 0, 0, 0 }, { 30, 0, 0, 0, 8 });
    /* window 0: never reads ahead */
    RUN("no read-ahead", 0, { 10, 0, 0, 0, 0 }, { 11, 0, 0, 0, 0 }, { 11, 1, 1, 1, 0 });
    /*
     * read-modify-write: read fault, then the write fault on the same page
     * (an upgrade); from then on sequential read faults ask for write access
     */
    RUN("read-modify-write walk", 4,
        { 10, 0, 0, 0, 0 }, { 10, 1, 1, 1, 0 }, /* learns rmw */
        { 11, 0, 0, 1, 4 },                     /* asks writable, reads ahead writable */
        { 16, 0, 0, 1, 4 });
    /* a read not followed by its write turns the prediction off again */
    RUN("rmw ends", 4,
        { 10, 0, 0, 0, 0 }, { 10, 1, 1, 1, 0 }, { 11, 0, 0, 1, 4 },
        { 16, 0, 0, 1, 4 }, { 21, 0, 0, 1, 4 },  /* a write access asked writable: no upgrade */
        { 40, 0, 0, 0, 0 },                      /* a jump: plain read, remembered */
        { 41, 0, 0, 0, 4 },                      /* previous read had no write: rmw off */
        { 42, 0, 1, 0, 0 });                     /* present page read (not a fault that asks) */
    /* an upgrade of another page than the last read does not start rmw */
    RUN("upgrade elsewhere", 4,
        { 10, 0, 0, 0, 0 }, { 3, 1, 1, 1, 0 }, { 11, 0, 0, 0, 4 });
    /* only random (non-sequential) faults: rmw learned but never used */
    RUN("rmw needs a walk", 4,
        { 10, 0, 0, 0, 0 }, { 10, 1, 1, 1, 0 }, { 50, 0, 0, 0, 0 }, { 50, 1, 1, 1, 0 },
        { 90, 0, 0, 0, 0 });
    return fails ? 1 : 0;
}
