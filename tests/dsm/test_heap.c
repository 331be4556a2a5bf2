/*
 * Unit test of the global heap's allocator (src/dsm/heap.c) and of the home
 * placement (src/dsm/place.h), no processes involved.
 *
 * Heap: random allocations and frees against a byte map of the arena:
 * blocks never overlap, stay inside the arena, are 16-byte aligned; freeing
 * everything gives the whole arena back (top returns to 0, no free extents
 * left); a bad free is DM_ERR_NOT_FOUND and changes nothing; an arena that
 * is full says DM_ERR_NO_MEMORY; 0 bytes is DM_ERR_INVALID_PARAM.
 * Placement: block-cyclic homes in the collective area, one heap per rank.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "place.h"

#define CHECK(c, ...)                                                   \
    do {                                                                \
        if (!(c)) {                                                     \
            fprintf(stderr, "test_heap: %s:%d: ", __FILE__, __LINE__);  \
            fprintf(stderr, __VA_ARGS__);                               \
            fprintf(stderr, "\n");                                      \
            exit(1);                                                    \
        }                                                               \
    } while (0)

#define ARENA (1u << 20)
#define NBLK  512

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void test_heap(void)
{
    static unsigned char owner[ARENA]; /* 0 free, else block index + 1 (mod 255) */
    uint64_t off[NBLK], len[NBLK];
    int live[NBLK] = { 0 };
    dm_heap_t h;
    uint64_t o;

    dm_heap_init(&h, ARENA);
    CHECK(dm_heap_alloc(&h, 0, &o) == DM_ERR_INVALID_PARAM, "0 bytes accepted");
    CHECK(dm_heap_alloc(&h, ARENA + 1, &o) == DM_ERR_NO_MEMORY, "more than the arena");
    CHECK(dm_heap_free(&h, 0) == DM_ERR_NOT_FOUND, "free of nothing");
    for (int step = 0; step < 200000; step++) {
        int i = (int)(next() % NBLK);

        if (live[i]) {
            CHECK(dm_heap_free(&h, off[i]) == DM_OK, "free of a live block");
            for (uint64_t b = off[i]; b < off[i] + len[i]; b++) {
                owner[b] = 0;
            }
            live[i] = 0;
            CHECK(dm_heap_free(&h, off[i]) == DM_ERR_NOT_FOUND, "double free accepted");
        } else {
            uint64_t want = 1 + next() % ((next() & 7) == 0 ? 16384 : 256);
            dm_status_t st = dm_heap_alloc(&h, want, &o);

            if (st == DM_ERR_NO_MEMORY) {
                continue;
            }
            CHECK(st == DM_OK, "alloc: %s", dm_status_name(st));
            CHECK(o % DM_HEAP_ALIGN == 0, "offset %llu not aligned", (unsigned long long)o);
            CHECK(o + want <= ARENA, "block beyond the arena");
            for (uint64_t b = o; b < o + want; b++) {
                CHECK(owner[b] == 0, "block %d at %llu overlaps block %d", i,
                      (unsigned long long)o, owner[b] - 1);
                owner[b] = (unsigned char)(i % 255 + 1);
            }
            off[i] = o;
            len[i] = want;
            live[i] = 1;
        }
    }
    for (int i = 0; i < NBLK; i++) {
        if (live[i]) {
            CHECK(dm_heap_free(&h, off[i]) == DM_OK, "final free");
        }
    }
    CHECK(h.top == 0 && h.nfree == 0 && h.nused == 0, "arena not whole again: top %llu, %zu free "
          "extents, %zu blocks", (unsigned long long)h.top, h.nfree, h.nused);
    /* full arena */
    CHECK(dm_heap_alloc(&h, ARENA, &o) == DM_OK && o == 0, "whole arena");
    CHECK(dm_heap_alloc(&h, 16, &o) == DM_ERR_NO_MEMORY, "alloc from a full arena");
    dm_heap_cleanup(&h);
}

static void test_place(void)
{
    dm_place_t pl;

    dm_place_init(&pl, 1000, 2, 4);
    CHECK(pl.coll_pages == 500 && pl.heap_pages == 125, "layout %llu %llu",
          (unsigned long long)pl.coll_pages, (unsigned long long)pl.heap_pages);
    for (uint64_t p = 0; p < pl.coll_pages; p++) {
        CHECK(dm_place_home(&pl, p) == (int)((p / 2) % 4), "page %llu", (unsigned long long)p);
    }
    for (int r = 0; r < 4; r++) {
        uint64_t f = dm_place_heap_first(&pl, r);

        CHECK(dm_place_home(&pl, f) == r && dm_place_home(&pl, f + pl.heap_pages - 1) == r,
              "heap of rank %d", r);
    }
    dm_place_init(&pl, 1003, 1, 4); /* 501 heap pages, 125 each, 1 left over */
    CHECK(dm_place_home(&pl, 1002) == -1, "the unused tail has no home");
}

int main(void)
{
    test_heap();
    test_place();
    printf("test_heap: ok\n");
    return 0;
}
