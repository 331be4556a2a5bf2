/*
 * stencil: a 2-D Jacobi heat-diffusion stencil on a grid in distmem memory.
 *
 *   distmem run -n 4 -- build/examples/stencil
 *
 * The grid (ROWS x COLS doubles; a row is 4 KiB, one page) is allocated
 * twice with dm_alloc, so every rank sees both copies at the same address.
 * The top edge is held at 100 degrees, the other edges at 0. Each rank owns
 * a contiguous band of rows and, in every iteration, computes its rows of
 * the new grid from the old one: each point becomes the mean of its four
 * neighbours. The rows just above and below a band belong to other ranks;
 * reading them is an ordinary load, and the runtime fetches those pages.
 * A dm_barrier between iterations makes every rank's new rows visible
 * before anyone reads them, and then the two grids swap roles.
 *
 * At the end each rank recomputes the whole run on its own, in private
 * memory with the same arithmetic, and checks its band bit for bit; the
 * mismatch counts and the heat of each band are gathered in distmem memory
 * too, and rank 0 prints one line. The exit status is nonzero on any
 * mismatch or error.
 */
#include <distmem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROWS  256
#define COLS  512 /* 512 doubles = 4 KiB: one row per page */
#define ITERS 100
#define HOT   100.0

/* The point (i, j) of a grid stored row after row. */
#define AT(g, i, j) ((g)[(size_t)(i) * COLS + (size_t)(j)])

/* The boundary condition: the top edge is hot, everything else starts cold. */
static void init_row(double *g, int i)
{
    for (int j = 0; j < COLS; j++) {
        AT(g, i, j) = i == 0 ? HOT : 0.0;
    }
}

/*
 * One Jacobi step for rows [lo, hi): each interior point becomes the mean of
 * its four neighbours in src. The parallel and the sequential runs both call it.
 */
static void step(const double *src, double *dst, int lo, int hi)
{
    for (int i = lo > 1 ? lo : 1; i < hi && i < ROWS - 1; i++) {
        for (int j = 1; j < COLS - 1; j++) {
            AT(dst, i, j) = 0.25 * (AT(src, i - 1, j) + AT(src, i + 1, j) +
                                    AT(src, i, j - 1) + AT(src, i, j + 1));
        }
    }
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what)
{
    fprintf(stderr, "stencil rank %d: %s: %s (%s)\n", dm_rank(), what,
            dm_status_string(dm_last_status()), dm_last_error());
    dm_finalize();
    return 1;
}

/* What each rank reports about its band of rows, gathered in distmem memory. */
typedef struct {
    long   mismatches; /* rows that differ from the sequential run */
    double heat;       /* sum of the band's temperatures */
} band_t;

int main(void)
{
    double *grid[2], *ref[2], seconds = 0, heat = 0;
    band_t *bands, mine = { 0, 0 };
    long mismatches = 0;
    int rank, n, lo, hi;

    if (dm_init(NULL) != DM_OK) {
        return fail("dm_init");
    }
    rank = dm_rank();
    n = dm_nranks();

    /* Collective: every rank gets the same addresses, zero-filled. */
    grid[0] = dm_alloc(ROWS * COLS * sizeof(double));
    grid[1] = dm_alloc(ROWS * COLS * sizeof(double));
    bands = dm_alloc((size_t)n * sizeof(band_t));
    if (grid[0] == NULL || grid[1] == NULL || bands == NULL) {
        return fail("dm_alloc");
    }

    /* This rank's band of rows is [lo, hi); it initializes them in both grids. */
    lo = rank * ROWS / n;
    hi = (rank + 1) * ROWS / n;
    for (int i = lo; i < hi; i++) {
        init_row(grid[0], i);
        init_row(grid[1], i);
    }
    if (dm_barrier() != DM_OK) {
        return fail("dm_barrier");
    }

    /* Double buffering: iteration it reads grid[it % 2] and writes grid[(it + 1) % 2]. */
    seconds = now_s();
    for (int it = 0; it < ITERS; it++) {
        step(grid[it % 2], grid[(it + 1) % 2], lo, hi);
        if (dm_barrier() != DM_OK) { /* everyone's new rows are visible after it */
            return fail("dm_barrier");
        }
    }
    seconds = now_s() - seconds;

    /* Check: the same computation, alone, in private memory. */
    ref[0] = malloc(ROWS * COLS * sizeof(double));
    ref[1] = malloc(ROWS * COLS * sizeof(double));
    if (ref[0] == NULL || ref[1] == NULL) {
        fprintf(stderr, "stencil rank %d: out of memory\n", rank);
        return 1;
    }
    for (int i = 0; i < ROWS; i++) {
        init_row(ref[0], i);
        init_row(ref[1], i);
    }
    for (int it = 0; it < ITERS; it++) {
        step(ref[it % 2], ref[(it + 1) % 2], 0, ROWS);
    }
    for (int i = lo; i < hi; i++) {
        mine.mismatches += memcmp(&AT(grid[ITERS % 2], i, 0), &AT(ref[ITERS % 2], i, 0),
                                  COLS * sizeof(double)) != 0;
        for (int j = 0; j < COLS; j++) {
            mine.heat += AT(grid[ITERS % 2], i, j);
        }
    }

    /* Gather: each rank writes its own slot, rank 0 reads them all after the barrier. */
    bands[rank] = mine;
    if (dm_barrier() != DM_OK) {
        return fail("dm_barrier");
    }
    if (rank == 0) {
        for (int r = 0; r < n; r++) {
            mismatches += bands[r].mismatches;
            heat += bands[r].heat;
        }
        printf("stencil: %dx%d grid, %d Jacobi iterations on %d ranks in %.3f s: %s"
               " (mean temperature %.4f)\n", ROWS, COLS, ITERS, n, seconds,
               mismatches ? "MISMATCH with the sequential run" : "matches the sequential run",
               heat / (ROWS * COLS));
        if (mismatches) {
            printf("stencil: %ld of %d rows differ\n", mismatches, ROWS);
        }
    }
    free(ref[0]);
    free(ref[1]);
    dm_free(bands);
    dm_free(grid[1]);
    dm_free(grid[0]);
    if (dm_finalize() != DM_OK) {
        return 1;
    }
    return mine.mismatches || mismatches ? 1 : 0;
}
