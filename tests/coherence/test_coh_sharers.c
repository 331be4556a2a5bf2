/*
 * The home's sharer set as it grows past the entry's inline array
 * (DM_COH_SHARERS_INLINE) onto the heap and back, driven through the
 * protocol's public entry point only (dm_coh_home_msg):
 *   - N ranks read-share a page (GETS): each gets DATA_S, in any order of
 *     arrival; the set holds each once (repeats are not duplicated);
 *   - one of them asks to write (GETM): the home sends INV to every other
 *     sharer exactly once, waits for that many INV_ACKs, then grants;
 *   - PUTM returns the page; the same entry is read-shared again by fewer
 *     ranks than fit inline, then by many, so both ways of growing run on
 *     an entry that was used before.
 * N runs through 1, the inline size, one past it and 1000. Run under the
 * ASan build this also checks that no array leaks or is freed twice.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coh.h"

#define MAXR 1000

static int g_failed;

#define CHECK(c, ...)                                                        \
    do {                                                                     \
        if (!(c)) {                                                          \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #c); \
            fprintf(stderr, __VA_ARGS__);                                    \
            fputc('\n', stderr);                                             \
            g_failed = 1;                                                    \
            return;                                                          \
        }                                                                    \
    } while (0)

typedef struct {
    int sent[MAXR + 1][DM_COH_PUT_ACK + 1]; /* per destination and message */
    int actions;
} rec_t;

static void emit(void *ctx, const dm_coh_action_t *a)
{
    rec_t *r = ctx;

    r->actions++;
    if (a->type == DM_COH_ACT_SEND && a->dst >= 0 && a->dst <= MAXR &&
        (int)a->msg <= (int)DM_COH_PUT_ACK) {
        r->sent[a->dst][a->msg]++;
    }
}

/* n ranks (1..n, in a scrambled order, each twice) read-share; rank w then writes. */
static void round_trip(dm_coh_dir_t *dir, int n, int w)
{
    static rec_t r;
    int order[MAXR];

    memset(&r, 0, sizeof(r));
    for (int i = 0; i < n; i++) {
        order[i] = 1 + (int)(((unsigned)i * 7919u) % (unsigned)n);
    }
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < n; i++) {
            CHECK(dm_coh_home_msg(dir, DM_COH_GETS, order[i], emit, &r) == DM_OK,
                  "GETS from %d", order[i]);
        }
    }
    CHECK(dir->state == DM_COH_H_S && dir->sharers.count == (uint32_t)n,
          "%d readers: state %d, %u sharers", n, dir->state, dir->sharers.count);
    for (uint32_t i = 1; i < dir->sharers.count; i++) {
        CHECK(dir->sharers.ranks[i - 1] < dir->sharers.ranks[i], "sharers not sorted at %u", i);
    }
    CHECK((n <= DM_COH_SHARERS_INLINE) == (dir->sharers.ranks == dir->sharers.inl) ||
              dir->sharers.cap > DM_COH_SHARERS_INLINE,
          "%d sharers: inline %d, cap %u", n, dir->sharers.ranks == dir->sharers.inl,
          dir->sharers.cap);
    for (int i = 1; i <= n; i++) {
        CHECK(r.sent[i][DM_COH_DATA_S] == 2, "rank %d got DATA_S %d times", i,
              r.sent[i][DM_COH_DATA_S]);
    }
    CHECK(dm_coh_home_msg(dir, DM_COH_GETM, w, emit, &r) == DM_OK, "GETM from %d", w);
    for (int i = 1; i <= n; i++) {
        CHECK(r.sent[i][DM_COH_INV] == (i == w ? 0 : 1), "rank %d got INV %d times", i,
              r.sent[i][DM_COH_INV]);
    }
    for (int i = 1; i <= n; i++) {
        if (i != w) {
            CHECK(r.sent[w][DM_COH_DATA_M] == 0, "granted before the last INV_ACK");
            CHECK(dm_coh_home_msg(dir, DM_COH_INV_ACK, i, emit, &r) == DM_OK, "INV_ACK %d", i);
        }
    }
    CHECK(dir->state == DM_COH_H_M && dir->owner == w && !dir->busy,
          "after the acks: state %d owner %d busy %d", dir->state, dir->owner, dir->busy);
    CHECK(dm_coh_home_msg(dir, DM_COH_PUTM, w, emit, &r) == DM_OK, "PUTM");
    CHECK(dir->state == DM_COH_H_U, "after PUTM: state %d", dir->state);
}

int main(void)
{
    static const int sizes[] = { 1, DM_COH_SHARERS_INLINE, DM_COH_SHARERS_INLINE + 1, 2, 37,
                                 MAXR, 3 };
    dm_coh_dir_t dir;

    dm_coh_dir_init(&dir);
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && !g_failed; i++) {
        round_trip(&dir, sizes[i], 1 + (int)(i % (size_t)sizes[i]));
    }
    dm_coh_dir_cleanup(&dir);
    if (g_failed) {
        return 1;
    }
    printf("coh_sharers: sharer sets of 1 to %d ranks, inline and on the heap: ok\n", MAXR);
    return 0;
}
