/*
 * The pfs consistency modes between two real processes on one directory:
 *   test_pfs_visibility coherent | readcache | writecache
 *
 * A writer (child) and a reader (parent) take turns, synchronized by pipes,
 * each with its own tier handle. Expected verdicts, from the rules in tier.h
 * (R = what the reader must see; 0 = the old contents, 1/2 = the writer's):
 *
 *   step                                         coherent readcache writecache
 *   R reads 5 (0), W writes 5,6,7 (1), no flush
 *     R reads 5 (cached by R before)               1        0          0
 *     R reads 6 (not cached by R)                  1        1          0
 *   W flushes
 *     R reads 7 (not cached by R)                  1        1          1
 *     R reads 5 (still cached by R)                1        0          0
 *   R flushes (drops its cache)
 *     R reads 5, 6                                 1        1          1
 *   W writes 9 (2) and dies without flush
 *     R reads 9                                    2        2          0
 *     a new handle reads 9                         2        2          0
 *
 * The writer also reads its own writes back (always 1). The reader's stale
 * reads in readcache/writecache are what those modes allow; the test asserts
 * them to show that the cache really serves reads. A second handle with
 * another page size on the directory is refused (DM_ERR_INVALID_PARAM).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_test.h"

#define PS 4096u

static dm_store_tier_params_t g_params;
static int g_to_writer[2], g_to_reader[2];
static char *g_dir;

static void tell(int fd, char step)
{
    CHECK(write(fd, &step, 1) == 1, "pipe write: %s", strerror(errno));
}

static void await(int fd, char step)
{
    char c = 0;

    CHECK(read(fd, &c, 1) == 1, "pipe read (the other process died?)");
    CHECK(c == step, "got step %c, want %c", c, step);
}

static long look(dm_store_tier_t *t, uint64_t slot)
{
    char *buf = store_alloc(PS);
    long gen;

    CHECK_OK(dm_store_tier_read(t, slot, buf));
    gen = store_which(buf, PS, slot, 4);
    free(buf);
    CHECK(gen >= 0, "slot %llu holds a torn or foreign page", (unsigned long long)slot);
    return gen;
}

static void put(dm_store_tier_t *t, uint64_t slot, uint64_t gen)
{
    char *buf = store_alloc(PS);

    store_fill(buf, PS, slot, gen);
    CHECK_OK(dm_store_tier_write(t, slot, buf));
    free(buf);
}

static void writer(void)
{
    dm_store_tier_t *t;

    close(g_to_writer[1]);
    close(g_to_reader[0]);
    await(g_to_writer[0], 'a');
    CHECK_OK(dm_store_tier_create(&g_params, &t));
    put(t, 5, 1);
    put(t, 6, 1);
    put(t, 7, 1);
    CHECK(look(t, 5) == 1 && look(t, 6) == 1, "the writer does not read its own writes");
    tell(g_to_reader[1], 'b');
    await(g_to_writer[0], 'c');
    CHECK_OK(dm_store_tier_flush(t));
    tell(g_to_reader[1], 'd');
    await(g_to_writer[0], 'e');
    put(t, 9, 2);
    free(g_dir);
    _exit(0); /* dies: no flush, no destroy (the handle is "lost" with the process) */
}

#define EXPECT(slot, c, r, w)                                                         \
    do {                                                                              \
        long want_ = mode == DM_STORE_PFS_COHERENT ? (c)                              \
                   : mode == DM_STORE_PFS_READCACHE ? (r) : (w);                      \
        long got_ = look(t, (slot));                                                  \
        CHECK(got_ == want_, "%s: slot %d: reader sees generation %ld, want %ld",     \
              dm_store_pfs_mode_name(mode), (slot), got_, want_);                     \
    } while (0)

static void reader(pid_t child)
{
    dm_store_pfs_mode_t mode = g_params.pfs_mode;
    dm_store_tier_t *t, *t2;
    int status;

    close(g_to_writer[0]);
    close(g_to_reader[1]);
    CHECK_OK(dm_store_tier_create(&g_params, &t));
    EXPECT(5, 0, 0, 0);
    tell(g_to_writer[1], 'a');
    await(g_to_reader[0], 'b');
    EXPECT(5, 1, 0, 0);
    EXPECT(6, 1, 1, 0);
    tell(g_to_writer[1], 'c');
    await(g_to_reader[0], 'd');
    EXPECT(7, 1, 1, 1);
    EXPECT(5, 1, 0, 0);
    CHECK_OK(dm_store_tier_flush(t));
    EXPECT(5, 1, 1, 1);
    EXPECT(6, 1, 1, 1);
    tell(g_to_writer[1], 'e');
    CHECK(waitpid(child, &status, 0) == child, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "writer failed (status %#x)", status);
    EXPECT(9, 2, 2, 0);
    dm_store_tier_destroy(t);
    CHECK_OK(dm_store_tier_create(&g_params, &t));
    EXPECT(9, 2, 2, 0);
    EXPECT(7, 1, 1, 1);

    /* another layout on the same directory is refused */
    {
        dm_store_tier_params_t p = g_params;

        p.page_size = 8192;
        p.field_mask |= DM_STORE_PARAM_PAGE_SIZE;
        CHECK_ST(dm_store_tier_create(&p, &t2), DM_ERR_INVALID_PARAM);
        CHECK(strstr(dm_last_error(), "layout") != NULL, "message: %s", dm_last_error());
    }
    dm_store_tier_destroy(t);
    close(g_to_writer[1]);
    close(g_to_reader[0]);
}

int main(int argc, char **argv)
{
    int fds0 = store_fd_count();
    char path[4096];
    pid_t pid;

    memset(&g_params, 0, sizeof(g_params));
    g_params.kind = DM_STORE_KIND_PFS;
    g_params.capacity = 1024;
    CHECK(argc > 1 && dm_store_pfs_mode_parse(argv[1], &g_params.pfs_mode) == DM_OK,
          "usage: test_pfs_visibility MODE: %s", dm_last_error());
    g_dir = store_scratch_dir("vis");
    snprintf(path, sizeof(path), "%s/tier", g_dir);
    g_params.path = path;
    g_params.pages_per_file = 4; /* slots 5, 6, 7 and 9 in different files */
    g_params.field_mask = DM_STORE_PARAM_PATH | DM_STORE_PARAM_PFS_MODE |
                          DM_STORE_PARAM_PAGES_PER_FILE;

    CHECK(pipe(g_to_writer) == 0 && pipe(g_to_reader) == 0, "pipe");
    fflush(NULL);
    pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        writer();
    }
    reader(pid);

    store_rm_rf(g_dir);
    free(g_dir);
    CHECK(store_fd_count() == fds0, "descriptors: %d at start, %d at the end", fds0,
          store_fd_count());
    printf("%s: every verdict as documented\n", argv[1]);
    return 0;
}
