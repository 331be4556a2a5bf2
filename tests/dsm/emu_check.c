/*
 * The fault path's emulation of faulting instructions (DISTMEM_FAULT_EMULATE,
 * src/dsm/dsm.c) through the public API, 2 or more real processes:
 *
 *   emu_check emulate   rounds in which one rank (the owner) fills pages of
 *                       dm_alloc memory and another (the accessor) runs one
 *                       load or store form per page, so every access faults
 *                       and waits for the page (the case that is pinned, and
 *                       emulated). Each form runs inside an assembly harness
 *                       that loads every general register but RSP and every
 *                       XMM register from a state block, executes the one
 *                       instruction and saves them all back. The same harness
 *                       runs natively on an ordinary buffer with the same
 *                       contents: the processor's result is the oracle. After
 *                       the distmem run every register must equal the native
 *                       run's (address registers: shifted by the distance
 *                       between the buffers when the instruction left them),
 *                       and the page(s) must equal the native buffer byte for
 *                       byte; after a barrier the owner checks the stored
 *                       bytes through its own (refetched) copy.
 *                       Forms: MOV loads and stores of 1, 2, 4, 8 bytes (also
 *                       AH..BH, REX byte registers, SIB with and without a
 *                       base, the last bytes of a page), stores of immediates,
 *                       MOVZX/MOVSX of every size, MOVSXD, SSE moves; and
 *                       forms that must fall back to the single step (a
 *                       read-modify-write, accesses crossing the page end).
 *                       Each accessor prints how many accesses must have been
 *                       emulated; run_dsm.sh checks the runtime's count.
 *
 * Prints "emu_check MODE: rank R ok" and exits 0 on success; a failed check
 * prints the rank, the form and what differed and exits 1. x86-64 only (the
 * other architectures have no emulation; the program then reports ok at once).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "distmem.h"

static int g_rank;
#include "rank_check.h"

#if defined(__x86_64__)

/* The state block the harness loads and saves (offsets used by the assembly). */
typedef struct emu_state {
    uint64_t gpr[16];     /* RAX..R15 in encoding order; gpr[4] (RSP) is not loaded */
    uint8_t  xmm[16][16]; /* XMM0..XMM15 */
} emu_state_t;

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };
#define NONE (-1)

#define XMM_LOAD(i)  "movdqu " #i "*16+128(%rdi), %xmm" #i "\n\t"
#define XMM_STORE(i) "movdqu %xmm" #i ", " #i "*16+128(%rax)\n\t"
#define XMM_ALL(M)                                                                       \
    M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)

/*
 * emu_ID(state): loads the registers from *state, runs TEXT, saves them
 * back (the caller-saved ones it clobbers are the C caller's to lose; the
 * callee-saved ones are restored).
 */
#define HARNESS(id, text)                                                                \
    __asm__(".pushsection .text\n\t.p2align 4\n"                                         \
            "emu_" #id ":\n\t"                                                           \
            "pushq %rbx\n\tpushq %rbp\n\tpushq %r12\n\tpushq %r13\n\tpushq %r14\n\t"     \
            "pushq %r15\n\tpushq %rdi\n\t"                                               \
            XMM_ALL(XMM_LOAD)                                                            \
            "movq 0(%rdi), %rax\n\tmovq 8(%rdi), %rcx\n\tmovq 16(%rdi), %rdx\n\t"        \
            "movq 24(%rdi), %rbx\n\tmovq 40(%rdi), %rbp\n\tmovq 48(%rdi), %rsi\n\t"      \
            "movq 64(%rdi), %r8\n\tmovq 72(%rdi), %r9\n\tmovq 80(%rdi), %r10\n\t"        \
            "movq 88(%rdi), %r11\n\tmovq 96(%rdi), %r12\n\tmovq 104(%rdi), %r13\n\t"     \
            "movq 112(%rdi), %r14\n\tmovq 120(%rdi), %r15\n\tmovq 56(%rdi), %rdi\n\t"    \
            text "\n\t"                                                                  \
            "pushq %rax\n\tmovq 8(%rsp), %rax\n\t"                                       \
            "movq %rcx, 8(%rax)\n\tmovq %rdx, 16(%rax)\n\tmovq %rbx, 24(%rax)\n\t"       \
            "movq %rbp, 40(%rax)\n\tmovq %rsi, 48(%rax)\n\tmovq %rdi, 56(%rax)\n\t"      \
            "movq %r8, 64(%rax)\n\tmovq %r9, 72(%rax)\n\tmovq %r10, 80(%rax)\n\t"        \
            "movq %r11, 88(%rax)\n\tmovq %r12, 96(%rax)\n\tmovq %r13, 104(%rax)\n\t"     \
            "movq %r14, 112(%rax)\n\tmovq %r15, 120(%rax)\n\t"                           \
            "popq %rcx\n\tmovq %rcx, 0(%rax)\n\t"                                        \
            XMM_ALL(XMM_STORE)                                                           \
            "popq %rdi\n\tpopq %r15\n\tpopq %r14\n\tpopq %r13\n\tpopq %r12\n\t"          \
            "popq %rbp\n\tpopq %rbx\n\tret\n"                                            \
            ".popsection");                                                              \
    void emu_##id(emu_state_t *s) __attribute__((visibility("hidden")))

/* loads into general registers */
HARNESS(ld8, "movb 5(%rsi), %al");
HARNESS(ld8_bh, "movb (%rdi,%rcx,2), %bh");
HARNESS(ld8_ah, "movb (%rdi), %ah");
HARNESS(ld8_sil, "movb -3(%r12), %sil");
HARNESS(ld16, "movw (%rbx), %r9w");
HARNESS(ld32, "movl 8(%rdi,%rcx,4), %eax");
HARNESS(ld32_nobase, "movl 0x10(,%rcx,1), %r15d");
HARNESS(ld64_self, "movq -8(%r13), %r13");
HARNESS(ld64_end, "movq (%rdx), %r8");
HARNESS(zx8_16, "movzbw (%rdi), %dx");
HARNESS(zx8_32, "movzbl 1(%rdi), %edx");
HARNESS(zx8_64, "movzbq (%r8,%r9,8), %r10");
HARNESS(zx16_32, "movzwl (%rdi), %r11d");
HARNESS(zx16_64, "movzwq (%rdi), %rbp");
HARNESS(sx8_16, "movsbw (%rdi), %cx");
HARNESS(sx8_32, "movsbl (%rdi), %ecx");
HARNESS(sx8_64, "movsbq (%rdi), %rcx");
HARNESS(sx16_32, "movswl (%rdi), %esi");
HARNESS(sx16_64, "movswq (%rdi), %r14");
HARNESS(sxd, "movslq 4(%rdi), %rax");
/* stores */
HARNESS(st8, "movb %dl, 7(%rsi)");
HARNESS(st8_ah, "movb %ah, (%rdi)");
HARNESS(st8_r10b, "movb %r10b, (%rdi)");
HARNESS(st16, "movw %cx, (%rdi,%rsi,1)");
HARNESS(st32, "movl %r8d, 0x40(%rdi)");
HARNESS(st64, "movq %r15, (%rdi)");
HARNESS(st64_end, "movq %rax, (%rdi)");
HARNESS(imm8, "movb $0xa5, (%rdi)");
HARNESS(imm16, "movw $0x8001, 2(%rdi)");
HARNESS(imm32, "movl $0xdeadbeef, (%rdi)");
HARNESS(imm64, "movq $-2, (%rdi)");
/* SSE */
HARNESS(movdqu_ld, "movdqu (%rdi), %xmm3");
HARNESS(movdqu_st, "movdqu %xmm11, (%rdi)");
HARNESS(movups_st, "movups %xmm9, (%rdi)");
HARNESS(movaps_ld, "movaps 16(%rdi), %xmm1");
HARNESS(movdqa_st, "movdqa %xmm15, (%rdi)");
HARNESS(movss_ld, "movss (%rdi), %xmm4");
HARNESS(movss_st, "movss %xmm4, (%rdi)");
HARNESS(movsd_ld, "movsd (%rdi), %xmm12");
HARNESS(movsd_st, "movsd %xmm5, (%rdi)");
HARNESS(movq_ld, "movq (%rdi), %xmm5");
HARNESS(movq_st, "movq %xmm5, (%rdi)");
HARNESS(movd_ld, "movd (%rdi), %xmm6");
HARNESS(movd_st, "movd %xmm6, (%rdi)");
HARNESS(movq_6e, ".byte 0x66, 0x48, 0x0f, 0x6e, 0x37"); /* movq (%rdi), %xmm6 as 66 REX.W 0F 6E */
/* not emulated: the single step runs them */
HARNESS(rmw_inc, "incl (%rdi)");
HARNESS(cross_ld, "movq (%rdi), %rax");
HARNESS(cross_st, "movl %eax, (%rdi)");
HARNESS(cross_sse, "movdqu (%rdi), %xmm0");

typedef struct form {
    const char *name;
    void      (*fn)(emu_state_t *);
    int         base, index, scale; /* how the instruction forms its address */
    long        disp;
    long        off;      /* offset of the access in its page; negative: from the page's end */
    int         emulated; /* must be emulated (else: must work through the single step) */
} form_t;

#define F(id, base, index, scale, disp, off, emulated) \
    { #id, emu_##id, base, index, scale, disp, off, emulated }

static const form_t forms[] = {
    F(ld8, RSI, NONE, 1, 5, 100, 1),
    F(ld8_bh, RDI, RCX, 2, 0, 7, 1),
    F(ld8_ah, RDI, NONE, 1, 0, 9, 1),
    F(ld8_sil, R12, NONE, 1, -3, 0, 1),
    F(ld16, RBX, NONE, 1, 0, 2046, 1),
    F(ld32, RDI, RCX, 4, 8, 1000, 1),
    F(ld32_nobase, NONE, RCX, 1, 0x10, 12, 1),
    F(ld64_self, R13, NONE, 1, -8, 64, 1),
    F(ld64_end, RDX, NONE, 1, 0, -8, 1),
    F(zx8_16, RDI, NONE, 1, 0, 3, 1),
    F(zx8_32, RDI, NONE, 1, 1, 4, 1),
    F(zx8_64, R8, R9, 8, 0, 31, 1),
    F(zx16_32, RDI, NONE, 1, 0, 6, 1),
    F(zx16_64, RDI, NONE, 1, 0, 10, 1),
    F(sx8_16, RDI, NONE, 1, 0, 5, 1),
    F(sx8_32, RDI, NONE, 1, 0, 13, 1),
    F(sx8_64, RDI, NONE, 1, 0, 21, 1),
    F(sx16_32, RDI, NONE, 1, 0, 14, 1),
    F(sx16_64, RDI, NONE, 1, 0, 22, 1),
    F(sxd, RDI, NONE, 1, 4, 40, 1),
    F(st8, RSI, NONE, 1, 7, 200, 1),
    F(st8_ah, RDI, NONE, 1, 0, 1, 1),
    F(st8_r10b, RDI, NONE, 1, 0, -1, 1),
    F(st16, RDI, RSI, 1, 0, 300, 1),
    F(st32, RDI, NONE, 1, 0x40, 404, 1),
    F(st64, RDI, NONE, 1, 0, 512, 1),
    F(st64_end, RDI, NONE, 1, 0, -8, 1),
    F(imm8, RDI, NONE, 1, 0, 77, 1),
    F(imm16, RDI, NONE, 1, 2, 78, 1),
    F(imm32, RDI, NONE, 1, 0, 80, 1),
    F(imm64, RDI, NONE, 1, 0, 88, 1),
    F(movdqu_ld, RDI, NONE, 1, 0, 17, 1),
    F(movdqu_st, RDI, NONE, 1, 0, -16, 1),
    F(movups_st, RDI, NONE, 1, 0, 33, 1),
    F(movaps_ld, RDI, NONE, 1, 16, 48, 1),
    F(movdqa_st, RDI, NONE, 1, 0, 128, 1),
    F(movss_ld, RDI, NONE, 1, 0, 44, 1),
    F(movss_st, RDI, NONE, 1, 0, 45, 1),
    F(movsd_ld, RDI, NONE, 1, 0, 56, 1),
    F(movsd_st, RDI, NONE, 1, 0, 57, 1),
    F(movq_ld, RDI, NONE, 1, 0, 64, 1),
    F(movq_st, RDI, NONE, 1, 0, 65, 1),
    F(movd_ld, RDI, NONE, 1, 0, 72, 1),
    F(movd_st, RDI, NONE, 1, 0, 73, 1),
    F(movq_6e, RDI, NONE, 1, 0, 96, 1),
    F(rmw_inc, RDI, NONE, 1, 0, 20, 0),
    F(cross_ld, RDI, NONE, 1, 0, -4, 0),
    F(cross_st, RDI, NONE, 1, 0, -2, 0),
    F(cross_sse, RDI, NONE, 1, 0, -8, 0),
};

#define NFORMS (sizeof(forms) / sizeof(forms[0]))
#define ROUNDS 4

static size_t g_page;

static uint8_t pattern(int round, size_t page, size_t i)
{
    uint64_t x = ((uint64_t)round << 40) ^ ((uint64_t)page << 20) ^ i;

    x = (x ^ (x >> 31)) * 0x9e3779b97f4a7c15ull;
    return (uint8_t)(x >> 56);
}

/* Fills two pages (pages 2f and 2f + 1 of the round) with the pattern. */
static void fill(uint8_t *p, int round, size_t f)
{
    size_t i;

    for (i = 0; i < 2 * g_page; i++) {
        p[i] = pattern(round, 2 * f, i);
    }
}

/* The harness's input for form f accessing base_addr + its offset. */
static void setup(const form_t *f, uint8_t *pages, int round, emu_state_t *s)
{
    uint64_t ea = (uint64_t)(uintptr_t)pages +
                  (uint64_t)(f->off >= 0 ? f->off : (long)g_page + f->off);
    unsigned i, j;

    for (i = 0; i < 16; i++) {
        s->gpr[i] = UINT64_C(0x0101010101010101) * (i + 1) ^ ((uint64_t)round << 60) ^
                    UINT64_C(0x8000000080008080);
        for (j = 0; j < 16; j++) {
            s->xmm[i][j] = (uint8_t)((i * 16 + j) ^ 0x5a ^ round);
        }
    }
    if (f->index != NONE) {
        if (f->base != NONE) {
            s->gpr[f->index] = 3;
            s->gpr[f->base] = ea - (uint64_t)f->disp - 3u * (unsigned)f->scale;
        } else {
            s->gpr[f->index] = ea - (uint64_t)f->disp; /* scale 1 */
        }
    } else {
        s->gpr[f->base] = ea - (uint64_t)f->disp;
    }
}

/*
 * Runs form f natively on buf (two ordinary pages filled like the distmem
 * ones): the processor's result, into *s and buf.
 */
static void run_native(const form_t *f, uint8_t *buf, int round, size_t fi, emu_state_t *s0,
                       emu_state_t *s)
{
    fill(buf, round, fi);
    setup(f, buf, round, s0);
    *s = *s0;
    f->fn(s);
}

static void run_emulate(void)
{
    uint8_t *mem, *buf;
    int n = dm_nranks(), round;
    size_t fi, must = 0;

    CHECK(n >= 2, "emulate needs 2 ranks or more");
    mem = dm_alloc(2 * NFORMS * g_page);
    CHECK(mem != NULL, "dm_alloc: %s", dm_last_error());
    CHECK(posix_memalign((void **)&buf, g_page, 2 * g_page) == 0, "posix_memalign");
    for (round = 0; round < ROUNDS; round++) {
        int owner = round % 2, accessor = 1 - owner;

        /* the owner writes every page: the accessor's copies are gone */
        if (g_rank == owner) {
            for (fi = 0; fi < NFORMS; fi++) {
                fill(mem + 2 * fi * g_page, round, fi);
            }
        }
        CHECK_OK(dm_barrier());
        if (g_rank == accessor) {
            for (fi = 0; fi < NFORMS; fi++) {
                const form_t *f = &forms[fi];
                uint8_t *pages = mem + 2 * fi * g_page;
                emu_state_t n0, nat, d0, dsm;
                unsigned i;

                run_native(f, buf, round, fi, &n0, &nat);
                setup(f, pages, round, &d0);
                dsm = d0;
                f->fn(&dsm); /* faults on distmem memory */
                must += (size_t)f->emulated;
                for (i = 0; i < 16; i++) {
                    uint64_t want = nat.gpr[i] == n0.gpr[i] ? d0.gpr[i] : nat.gpr[i];

                    if (i == RSP) {
                        continue;
                    }
                    CHECK(dsm.gpr[i] == want,
                          "round %d form %s: register %u is %#" PRIx64 ", want %#" PRIx64
                          " (before %#" PRIx64 ")",
                          round, f->name, i, dsm.gpr[i], want, d0.gpr[i]);
                }
                for (i = 0; i < 16; i++) {
                    CHECK(!memcmp(dsm.xmm[i], nat.xmm[i], 16),
                          "round %d form %s: xmm%u differs from the native run", round,
                          f->name, i);
                }
                for (i = 0; i < 2 * g_page; i++) {
                    CHECK(pages[i] == buf[i],
                          "round %d form %s: byte %u of its pages is %#x, want %#x", round,
                          f->name, i, pages[i], buf[i]);
                }
            }
        }
        CHECK_OK(dm_barrier());
        /* the owner sees the accessor's stores (its own copy was revoked) */
        if (g_rank == owner) {
            for (fi = 0; fi < NFORMS; fi++) {
                emu_state_t n0, nat;
                const uint8_t *pages = mem + 2 * fi * g_page;
                size_t i;

                run_native(&forms[fi], buf, round, fi, &n0, &nat);
                for (i = 0; i < 2 * g_page; i++) {
                    CHECK(((volatile const uint8_t *)pages)[i] == buf[i],
                          "round %d form %s: the owner reads %#x at byte %zu, want %#x", round,
                          forms[fi].name, pages[i], i, buf[i]);
                }
            }
        }
        CHECK_OK(dm_barrier());
    }
    if (g_rank < 2) {
        printf("emu_check emulate: rank %d must emulate %zu accesses\n", g_rank, must);
    }
    free(buf);
    dm_free(mem);
}

#else

static size_t g_page;

static void run_emulate(void)
{
    printf("emu_check emulate: not x86-64, nothing to emulate\n");
}

#endif

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    long page = sysconf(_SC_PAGESIZE);

    setvbuf(stdout, NULL, _IOLBF, 0);
    CHECK(page > 0, "sysconf(_SC_PAGESIZE)");
    g_page = (size_t)page;
    CHECK_OK(dm_init(NULL));
    g_rank = dm_rank();
    if (!strcmp(mode, "emulate")) {
        run_emulate();
    } else {
        fprintf(stderr, "usage: emu_check emulate\n");
        dm_finalize();
        return 2;
    }
    CHECK_OK(dm_barrier());
    CHECK_OK(dm_finalize());
    printf("emu_check %s: rank %d ok\n", mode, g_rank);
    return 0;
}
