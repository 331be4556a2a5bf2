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
 *                       MOVZX/MOVSX of every size, MOVSXD, SSE moves; the ALU
 *                       forms ADD OR ADC SBB AND SUB XOR CMP (m, r; r, m;
 *                       m, imm), TEST, INC, DEC, NOT, NEG, XCHG, XADD,
 *                       CMPXCHG, plain and LOCK, every width, on values
 *                       chosen to set CF OF AF ZF SF PF; and forms that must
 *                       fall back to the single step (shifts, IMUL, BTS,
 *                       accesses crossing the page end). The harness also
 *                       loads EFLAGS' arithmetic flags (each round flips CF,
 *                       or the others, so ADC/SBB see CF in and out) and
 *                       saves EFLAGS after the instruction: they must equal
 *                       the native run's.
 *                       Which path ran is checked per access: a counting
 *                       SIGTRAP handler in front of the runtime's sees the
 *                       single step, so an emulated form must take none and
 *                       every other form (and every form with
 *                       DISTMEM_FAULT_EMULATE=no) at least one. Each accessor
 *                       also prints how many accesses must have been
 *                       emulated; run_dsm.sh checks the runtime's count.
 *
 * Prints "emu_check MODE: rank R ok" and exits 0 on success; a failed check
 * prints the rank, the form and what differed and exits 1. x86-64 only (the
 * other architectures have no emulation; the program then reports ok at once).
 */
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "distmem.h"

static int g_rank;
#include "rank_check.h"

#if defined(__x86_64__)

/* The state block the harness loads and saves (offsets used by the assembly). */
typedef struct emu_state {
    uint64_t gpr[16];     /* RAX..R15 in encoding order; gpr[4] (RSP) is not loaded */
    uint8_t  xmm[16][16]; /* XMM0..XMM15 */
    uint64_t flags;       /* EFLAGS: loaded (arithmetic flags only), saved after the instruction */
} emu_state_t;

_Static_assert(offsetof(emu_state_t, flags) == 384, "the harness's offset of flags");

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };
#define NONE (-1)

#define XMM_LOAD(i)  "movdqu " #i "*16+128(%rdi), %xmm" #i "\n\t"
#define XMM_STORE(i) "movdqu %xmm" #i ", " #i "*16+128(%rax)\n\t"
#define XMM_ALL(M)                                                                       \
    M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)

/*
 * emu_ID(state): loads the registers and EFLAGS from *state, runs TEXT,
 * saves them back (the caller-saved ones it clobbers are the C caller's to
 * lose; the callee-saved ones are restored). EFLAGS is saved first, before
 * anything else can change it.
 */
#define HARNESS(id, text)                                                                \
    __asm__(".pushsection .text\n\t.p2align 4\n"                                         \
            "emu_" #id ":\n\t"                                                           \
            "pushq %rbx\n\tpushq %rbp\n\tpushq %r12\n\tpushq %r13\n\tpushq %r14\n\t"     \
            "pushq %r15\n\tpushq %rdi\n\t"                                               \
            XMM_ALL(XMM_LOAD)                                                            \
            "pushq 384(%rdi)\n\tpopfq\n\t"                                              \
            "movq 0(%rdi), %rax\n\tmovq 8(%rdi), %rcx\n\tmovq 16(%rdi), %rdx\n\t"        \
            "movq 24(%rdi), %rbx\n\tmovq 40(%rdi), %rbp\n\tmovq 48(%rdi), %rsi\n\t"      \
            "movq 64(%rdi), %r8\n\tmovq 72(%rdi), %r9\n\tmovq 80(%rdi), %r10\n\t"        \
            "movq 88(%rdi), %r11\n\tmovq 96(%rdi), %r12\n\tmovq 104(%rdi), %r13\n\t"     \
            "movq 112(%rdi), %r14\n\tmovq 120(%rdi), %r15\n\tmovq 56(%rdi), %rdi\n\t"    \
            text "\n\t"                                                                  \
            "pushfq\n\tpushq %rax\n\tmovq 16(%rsp), %rax\n\t"                          \
            "movq %rcx, 8(%rax)\n\tmovq %rdx, 16(%rax)\n\tmovq %rbx, 24(%rax)\n\t"       \
            "movq %rbp, 40(%rax)\n\tmovq %rsi, 48(%rax)\n\tmovq %rdi, 56(%rax)\n\t"      \
            "movq %r8, 64(%rax)\n\tmovq %r9, 72(%rax)\n\tmovq %r10, 80(%rax)\n\t"        \
            "movq %r11, 88(%rax)\n\tmovq %r12, 96(%rax)\n\tmovq %r13, 104(%rax)\n\t"     \
            "movq %r14, 112(%rax)\n\tmovq %r15, 120(%rax)\n\t"                           \
            "popq %rcx\n\tmovq %rcx, 0(%rax)\n\tpopq %rcx\n\tmovq %rcx, 384(%rax)\n\t"    \
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
HARNESS(rmw_inc, "incl (%rdi)");
/* ALU, op m, r: memory = memory op register (CMP, TEST: flags only) */
HARNESS(add_mr8, "addb %cl, (%rdi)");
HARNESS(add_mr8_ah, "addb %ah, 3(%rdi)");
HARNESS(add_mr16, "addw %r9w, (%rdi)");
HARNESS(add_mr32_sib, "addl %edx, 8(%rdi,%rcx,4)");
HARNESS(add_mr64, "addq %rsi, (%rdi)");
HARNESS(or_mr8_sil, "orb %sil, (%rdi)");
HARNESS(or_mr16, "orw %bx, (%rdi)");
HARNESS(or_mr32, "orl %r11d, (%rdi)");
HARNESS(or_mr64, "orq %r10, (%rdi)");
HARNESS(adc_mr8, "adcb %bl, (%rdi)");
HARNESS(adc_mr16, "adcw %r11w, (%rdi)");
HARNESS(adc_mr32, "adcl %eax, (%rdi)");
HARNESS(adc_mr64, "adcq %r8, (%rdi)");
HARNESS(sbb_mr8, "sbbb %dl, (%rdi)");
HARNESS(sbb_mr16, "sbbw %cx, (%rdi)");
HARNESS(sbb_mr32, "sbbl %r12d, (%rdi)");
HARNESS(sbb_mr64, "sbbq %r14, (%rdi)");
HARNESS(and_mr8_bh, "andb %bh, (%rdi)");
HARNESS(and_mr16, "andw %ax, (%rdi)");
HARNESS(and_mr32, "andl %r13d, (%rdi)");
HARNESS(and_mr64, "andq %rcx, (%rdi)");
HARNESS(sub_mr8, "subb %al, (%rdi)");
HARNESS(sub_mr16, "subw %si, (%rdi)");
HARNESS(sub_mr32, "subl %ebp, (%rdi)");
HARNESS(sub_mr64, "subq %r15, (%rdi)");
HARNESS(xor_mr8_dh, "xorb %dh, (%rdi)");
HARNESS(xor_mr16, "xorw %r8w, (%rdi)");
HARNESS(xor_mr32, "xorl %ecx, (%rdi)");
HARNESS(xor_mr64, "xorq %rax, (%rdi)");
HARNESS(cmp_mr8, "cmpb %cl, (%rdi)");
HARNESS(cmp_mr16, "cmpw %dx, (%rdi)");
HARNESS(cmp_mr32, "cmpl %r9d, (%rdi)");
HARNESS(cmp_mr64, "cmpq %rsi, (%rdi)");
HARNESS(test_mr8_ch, "testb %ch, (%rdi)");
HARNESS(test_mr16, "testw %dx, (%rdi)");
HARNESS(test_mr32, "testl %eax, (%rdi)");
HARNESS(test_mr64, "testq %r12, (%rdi)");
/* ALU, op r, m: register = register op memory (CMP: flags only) */
HARNESS(add_rm8_ah, "addb (%rdi), %ah");
HARNESS(add_rm16, "addw (%rdi), %r10w");
HARNESS(add_rm32, "addl (%rdi), %eax");
HARNESS(add_rm64, "addq (%rdi), %rbx");
HARNESS(or_rm8, "orb (%rdi), %r11b");
HARNESS(or_rm32, "orl (%rdi), %esi");
HARNESS(adc_rm8, "adcb (%rdi), %cl");
HARNESS(adc_rm16, "adcw (%rdi), %dx");
HARNESS(adc_rm32, "adcl (%rdi), %edx");
HARNESS(adc_rm64, "adcq (%rdi), %r14");
HARNESS(sbb_rm8_bh, "sbbb (%rdi), %bh");
HARNESS(sbb_rm16, "sbbw (%rdi), %r8w");
HARNESS(sbb_rm32, "sbbl (%rdi), %ebp");
HARNESS(sbb_rm64, "sbbq (%rdi), %rax");
HARNESS(and_rm8_sil, "andb (%rdi), %sil");
HARNESS(and_rm64, "andq (%rdi), %r9");
HARNESS(sub_rm16, "subw (%rdi), %cx");
HARNESS(sub_rm32, "subl (%rdi), %r13d");
HARNESS(sub_rm64_sib, "subq -8(%rsi,%rdx,8), %rax");
HARNESS(xor_rm8, "xorb (%rdi), %dl");
HARNESS(xor_rm64, "xorq (%rdi), %r12");
HARNESS(cmp_rm8_dh, "cmpb (%rdi), %dh");
HARNESS(cmp_rm16, "cmpw (%rdi), %si");
HARNESS(cmp_rm32, "cmpl (%rdi), %eax");
HARNESS(cmp_rm64, "cmpq (%rdi), %r15");
/* ALU, op m, imm: 80 ib, 81 iz, 83 ib sign-extended */
HARNESS(add_i8, "addb $0x80, (%rdi)");
HARNESS(add_i16_ib, "addw $-1, (%rdi)");
HARNESS(add_i32_iz, "addl $0x7fffffff, (%rdi)");
HARNESS(add_i64_bench, "addq $0x1, (%rax)");
HARNESS(add_i64_neg, "addq $-0x80000000, (%rdi)");
HARNESS(or_i8, "orb $0x80, (%rdi)");
HARNESS(or_i16, "orw $0x1234, (%rdi)");
HARNESS(or_i64, "orq $-2, (%rdi)");
HARNESS(adc_i8, "adcb $0xff, (%rdi)");
HARNESS(adc_i16, "adcw $0x7fff, (%rdi)");
HARNESS(adc_i32, "adcl $0, (%rdi)");
HARNESS(adc_i64, "adcq $1, (%rdi)");
HARNESS(sbb_i8, "sbbb $1, (%rdi)");
HARNESS(sbb_i16, "sbbw $0x7fff, (%rdi)");
HARNESS(sbb_i32, "sbbl $-1, (%rdi)");
HARNESS(sbb_i64, "sbbq $0x7fffffff, (%rdi)");
HARNESS(and_i8, "andb $0x0f, (%rdi)");
HARNESS(and_i16, "andw $-256, (%rdi)");
HARNESS(and_i32, "andl $0x80000000, (%rdi)");
HARNESS(and_i64, "andq $0x7fffff00, (%rdi)");
HARNESS(sub_i8, "subb $1, (%rdi)");
HARNESS(sub_i16_ib, "subw $-128, (%rdi)");
HARNESS(sub_i32, "subl $0x12345678, 4(%rdi)");
HARNESS(sub_i64, "subq $1, (%rdi)");
HARNESS(xor_i8, "xorb $0xff, (%rdi)");
HARNESS(xor_i16, "xorw $0x5555, (%rdi)");
HARNESS(xor_i32, "xorl $-1, (%rdi)");
HARNESS(xor_i64, "xorq $0x55, (%rdi)");
HARNESS(cmp_i8, "cmpb $0x80, (%rdi)");
HARNESS(cmp_i16, "cmpw $1, (%rdi)");
HARNESS(cmp_i32, "cmpl $-1, (%rdi)");
HARNESS(cmp_i64, "cmpq $0x7fffffff, (%rdi)");
HARNESS(test_i8, "testb $0x81, (%rdi)");
HARNESS(test_i16, "testw $0x8000, (%rdi)");
HARNESS(test_i32, "testl $0x80000000, (%rdi)");
HARNESS(test_i64, "testq $-16, (%rdi)");
/* INC, DEC, NOT, NEG */
HARNESS(inc8, "incb (%rdi)");
HARNESS(inc16, "incw (%rdi)");
HARNESS(inc32, "incl (%rdi)");
HARNESS(inc64, "incq (%r13)");
HARNESS(dec8, "decb (%rdi)");
HARNESS(dec16, "decw (%rdi)");
HARNESS(dec32, "decl (%rdi)");
HARNESS(dec64, "decq (%rdi)");
HARNESS(not8, "notb (%rdi)");
HARNESS(not16, "notw (%rdi)");
HARNESS(not32, "notl (%rdi)");
HARNESS(not64, "notq (%rdi)");
HARNESS(neg8, "negb (%rdi)");
HARNESS(neg16, "negw (%rdi)");
HARNESS(neg32, "negl (%rdi)");
HARNESS(neg64, "negq (%rdi)");
/* XCHG (locked by the processor), LOCK forms, XADD, CMPXCHG */
HARNESS(xchg8_ah, "xchgb %ah, (%rdi)");
HARNESS(xchg8_r9b, "xchgb %r9b, (%rdi)");
HARNESS(xchg16, "xchgw %dx, (%rdi)");
HARNESS(xchg32, "xchgl %eax, (%rdi)");
HARNESS(xchg64, "xchgq %r15, (%rdi)");
HARNESS(lock_add32, "lock addl $1, (%rdi)");
HARNESS(lock_add64, "lock addq %rcx, (%rdi)");
HARNESS(lock_sub16, "lock subw %si, (%rdi)");
HARNESS(lock_inc64, "lock incq (%rdi)");
HARNESS(lock_dec8, "lock decb (%rdi)");
HARNESS(lock_and32, "lock andl $0xff00ff00, (%rdi)");
HARNESS(lock_or8, "lock orb %dl, (%rdi)");
HARNESS(lock_xor64, "lock xorq $-1, (%rdi)");
HARNESS(lock_adc8, "lock adcb $0, (%rdi)");
HARNESS(lock_sbb64, "lock sbbq %r8, (%rdi)");
HARNESS(lock_not16, "lock notw (%rdi)");
HARNESS(lock_neg32, "lock negl (%rdi)");
HARNESS(lock_xchg64, "lock xchgq %rbx, (%rdi)");
HARNESS(xadd8, "xaddb %cl, (%rdi)");
HARNESS(lock_xadd16, "lock xaddw %dx, (%rdi)");
HARNESS(lock_xadd32, "lock xaddl %r10d, (%rdi)");
HARNESS(lock_xadd64, "lock xaddq %rsi, (%rdi)");
HARNESS(cmpxchg8_ok, "cmpxchgb %dl, (%rdi)");
HARNESS(lock_cmpxchg8_bh, "lock cmpxchgb %bh, (%rdi)");
HARNESS(lock_cmpxchg16_ok, "lock cmpxchgw %si, (%rdi)");
HARNESS(lock_cmpxchg32_ok, "lock cmpxchgl %ecx, (%rdi)");
HARNESS(lock_cmpxchg32_fail, "lock cmpxchgl %ecx, (%rdi)");
HARNESS(lock_cmpxchg64_ok, "lock cmpxchgq %r11, (%rdi)");
HARNESS(cmpxchg64_fail, "cmpxchgq %r11, (%rdi)");
/* the last bytes of a page */
HARNESS(add64_end, "addq $1, (%rdi)");
HARNESS(lock_inc32_end, "lock incl (%rdi)");
HARNESS(cmp64_end, "cmpq %rax, (%rdi)");
/* not emulated: the single step runs them */
HARNESS(cross_add, "addq $1, (%rdi)");
HARNESS(cross_cmp, "cmpl $1, (%rdi)");
HARNESS(step_shl, "shll $3, (%rdi)");
HARNESS(step_imul, "imull (%rdi), %ecx");
HARNESS(step_bts, "lock btsq $3, (%rdi)");
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
    int         msize;    /* bytes of mem stored at the access (little-endian); 0: the pattern */
    uint64_t    mem;
    int         r1, r2;   /* registers given the values v1, v2 (NONE: the pattern) */
    uint64_t    v1, v2;
    unsigned    flags;    /* arithmetic flags in, before the round's flip */
} form_t;

/* EFLAGS */
#define CF    0x1u
#define PF    0x4u
#define AF    0x10u
#define ZF    0x40u
#define SF    0x80u
#define OF    0x800u
#define ARITH (CF | PF | AF | ZF | SF | OF)

/* a load or store on the pattern */
#define F(id, base, index, scale, disp, off, emulated) \
    { #id, emu_##id, base, index, scale, disp, off, emulated, .r1 = NONE, .r2 = NONE }
/* an ALU form on the value mem, with registers r1, r2 set: G with any address, A at off(%rdi) */
#define G(id, base, index, scale, disp, off, msize, mem, r1, v1, r2, v2, flags)              \
    { #id, emu_##id, base, index, scale, disp, off, 1, msize, UINT64_C(mem), r1, r2,         \
      UINT64_C(v1), UINT64_C(v2), flags }
#define A(id, off, msize, mem, r1, v1, r2, v2, flags) \
    G(id, RDI, NONE, 1, 0, off, msize, mem, r1, v1, r2, v2, flags)
/* a form the single step must run, at off(%rdi) */
#define S(id, off, msize, mem, r1, v1)                                                        \
    { #id, emu_##id, RDI, NONE, 1, 0, off, 0, msize, UINT64_C(mem), r1, NONE, UINT64_C(v1), \
      0, 0 }

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
    F(rmw_inc, RDI, NONE, 1, 0, 20, 1),
    /* ALU, op m, r */
    A(add_mr8, 8, 1, 0xff, RCX, 0x1234567890abcd01, NONE, 0, 0),
    G(add_mr8_ah, RDI, NONE, 1, 3, 16, 1, 0x7f, RAX, 0x0101, NONE, 0, 0),
    A(add_mr16, 24, 2, 0x8000, R9, 0xffffffffffff8000, NONE, 0, 0),
    G(add_mr32_sib, RDI, RCX, 4, 8, 40, 4, 0x7fffffff, RDX, 0xaaaaaaaa00000001, NONE, 0, 0),
    A(add_mr64, 48, 8, 0xffffffffffffffff, RSI, 1, NONE, 0, 0),
    A(or_mr8_sil, 56, 1, 0, RSI, 0x1100, NONE, 0, 0),
    A(or_mr16, 64, 2, 0x8000, RBX, 1, NONE, 0, 0),
    A(or_mr32, 72, 4, 0, R11, 0xffffffff00000000, NONE, 0, 0),
    A(or_mr64, 80, 8, 0x8000000000000000, R10, 1, NONE, 0, 0),
    A(adc_mr8, 88, 1, 0xfe, RBX, 1, NONE, 0, 0),
    A(adc_mr16, 96, 2, 0x7fff, R11, 0, NONE, 0, CF),
    A(adc_mr32, 104, 4, 0xffffffff, RAX, 0xffffffff00000000, NONE, 0, CF),
    A(adc_mr64, 112, 8, 0x7fffffffffffffff, R8, 0x7fffffffffffffff, NONE, 0, CF),
    A(sbb_mr8, 120, 1, 0, RDX, 0, NONE, 0, CF),
    A(sbb_mr16, 128, 2, 0x8000, RCX, 0, NONE, 0, CF),
    A(sbb_mr32, 136, 4, 5, R12, 5, NONE, 0, 0),
    A(sbb_mr64, 144, 8, 0, R14, 0xffffffffffffffff, NONE, 0, CF),
    A(and_mr8_bh, 152, 1, 0xf0, RBX, 0x0f00, NONE, 0, 0),
    A(and_mr16, 160, 2, 0x8001, RAX, 0x8000, NONE, 0, 0),
    A(and_mr32, 168, 4, 0x80000001, R13, 0xffffffff80000000, NONE, 0, 0),
    A(and_mr64, 176, 8, 0xffffffffffffffff, RCX, 0x8000000000000000, NONE, 0, 0),
    A(sub_mr8, 184, 1, 0x80, RAX, 1, NONE, 0, 0),
    A(sub_mr16, 192, 2, 0, RSI, 1, NONE, 0, 0),
    A(sub_mr32, 200, 4, 0x12345678, RBP, 0x12345678, NONE, 0, 0),
    A(sub_mr64, 208, 8, 0x8000000000000000, R15, 1, NONE, 0, 0),
    A(xor_mr8_dh, 216, 1, 0xaa, RDX, 0xaa00, NONE, 0, 0),
    A(xor_mr16, 224, 2, 0x7fff, R8, 0xffff, NONE, 0, 0),
    A(xor_mr32, 232, 4, 0x0f0f0f0f, RCX, 0xf0f0f0f0, NONE, 0, 0),
    A(xor_mr64, 240, 8, 1, RAX, 1, NONE, 0, 0),
    A(cmp_mr8, 248, 1, 1, RCX, 2, NONE, 0, 0),
    A(cmp_mr16, 256, 2, 0x8000, RDX, 1, NONE, 0, 0),
    A(cmp_mr32, 264, 4, 0xdeadbeef, R9, 0xdeadbeef, NONE, 0, 0),
    A(cmp_mr64, 272, 8, 0x7fffffffffffffff, RSI, 0xffffffffffffffff, NONE, 0, 0),
    A(test_mr8_ch, 280, 1, 0x80, RCX, 0x8000, NONE, 0, 0),
    A(test_mr16, 288, 2, 0x00ff, RDX, 0xff00, NONE, 0, 0),
    A(test_mr32, 296, 4, 0x80000001, RAX, 0x80000003, NONE, 0, 0),
    A(test_mr64, 304, 8, 0x8000000000000000, R12, 0x8000000000000000, NONE, 0, 0),
    /* ALU, op r, m */
    A(add_rm8_ah, 312, 1, 0x80, RAX, 0x1122334455668001, NONE, 0, 0),
    A(add_rm16, 320, 2, 1, R10, 0xabcdef000000ffff, NONE, 0, 0),
    A(add_rm32, 328, 4, 0x80000000, RAX, 0xdeadbeef80000000, NONE, 0, 0),
    A(add_rm64, 336, 8, 0x7fffffffffffffff, RBX, 1, NONE, 0, 0),
    A(or_rm8, 344, 1, 0x80, R11, 0x7f00, NONE, 0, 0),
    A(or_rm32, 352, 4, 0, RSI, 0xffffffff00000000, NONE, 0, 0),
    A(adc_rm8, 360, 1, 0xff, RCX, 0, NONE, 0, CF),
    A(adc_rm16, 368, 2, 0x8000, RDX, 0x7fff, NONE, 0, 0),
    A(adc_rm32, 376, 4, 0xffffffff, RDX, 0xffffffff00000000, NONE, 0, CF),
    A(adc_rm64, 384, 8, 0xffffffffffffffff, R14, 0xffffffffffffffff, NONE, 0, CF),
    A(sbb_rm8_bh, 392, 1, 1, RBX, 0x0100, NONE, 0, CF),
    A(sbb_rm16, 400, 2, 0, R8, 0x1111222233330000, NONE, 0, CF),
    A(sbb_rm32, 408, 4, 0x80000000, RBP, 0x7fffffff, NONE, 0, 0),
    A(sbb_rm64, 416, 8, 1, RAX, 0, NONE, 0, CF),
    A(and_rm8_sil, 424, 1, 0x0f, RSI, 0xf0f0, NONE, 0, 0),
    A(and_rm64, 432, 8, 0xff00ff00ff00ff00, R9, 0xffffffffffffffff, NONE, 0, 0),
    A(sub_rm16, 440, 2, 0xffff, RCX, 0xffff, NONE, 0, 0),
    A(sub_rm32, 448, 4, 1, R13, 0x1234567800000000, NONE, 0, 0),
    G(sub_rm64_sib, RSI, RDX, 8, -8, 456, 8, 0x8000000000000000, RAX, 0, NONE, 0, 0),
    A(xor_rm8, 464, 1, 0x80, RDX, 0x80, NONE, 0, 0),
    A(xor_rm64, 472, 8, 0x5555555555555555, R12, 0xaaaaaaaaaaaaaaaa, NONE, 0, 0),
    A(cmp_rm8_dh, 480, 1, 0x7f, RDX, 0x8000, NONE, 0, 0),
    A(cmp_rm16, 488, 2, 2, RSI, 1, NONE, 0, 0),
    A(cmp_rm32, 496, 4, 0x12345678, RAX, 0xffffffff12345678, NONE, 0, 0),
    A(cmp_rm64, 504, 8, 0, R15, 0, NONE, 0, 0),
    /* ALU, op m, imm */
    A(add_i8, 512, 1, 0x80, NONE, 0, NONE, 0, 0),
    A(add_i16_ib, 520, 2, 1, NONE, 0, NONE, 0, 0),
    A(add_i32_iz, 528, 4, 1, NONE, 0, NONE, 0, 0),
    G(add_i64_bench, RAX, NONE, 1, 0, 536, 8, 41, NONE, 0, NONE, 0, 0),
    A(add_i64_neg, 544, 8, 0, NONE, 0, NONE, 0, 0),
    A(or_i8, 552, 1, 1, NONE, 0, NONE, 0, 0),
    A(or_i16, 560, 2, 0, NONE, 0, NONE, 0, 0),
    A(or_i64, 568, 8, 1, NONE, 0, NONE, 0, 0),
    A(adc_i8, 576, 1, 0, NONE, 0, NONE, 0, CF),
    A(adc_i16, 584, 2, 0, NONE, 0, NONE, 0, CF),
    A(adc_i32, 592, 4, 0xffffffff, NONE, 0, NONE, 0, CF),
    A(adc_i64, 600, 8, 0x7fffffffffffffff, NONE, 0, NONE, 0, 0),
    A(sbb_i8, 608, 1, 0, NONE, 0, NONE, 0, CF),
    A(sbb_i16, 616, 2, 0xffff, NONE, 0, NONE, 0, CF),
    A(sbb_i32, 624, 4, 0, NONE, 0, NONE, 0, 0),
    A(sbb_i64, 632, 8, 0x80000000ffffffff, NONE, 0, NONE, 0, CF),
    A(and_i8, 640, 1, 0xf0, NONE, 0, NONE, 0, 0),
    A(and_i16, 648, 2, 0x80ff, NONE, 0, NONE, 0, 0),
    A(and_i32, 656, 4, 0x7fffffff, NONE, 0, NONE, 0, 0),
    A(and_i64, 664, 8, 0xffffffffffffffff, NONE, 0, NONE, 0, 0),
    A(sub_i8, 672, 1, 0, NONE, 0, NONE, 0, 0),
    A(sub_i16_ib, 680, 2, 0x7f80, NONE, 0, NONE, 0, 0),
    G(sub_i32, RDI, NONE, 1, 4, 688, 4, 0x12345678, NONE, 0, NONE, 0, 0),
    A(sub_i64, 696, 8, 0x8000000000000000, NONE, 0, NONE, 0, 0),
    A(xor_i8, 704, 1, 0xff, NONE, 0, NONE, 0, 0),
    A(xor_i16, 712, 2, 0xaaaa, NONE, 0, NONE, 0, 0),
    A(xor_i32, 720, 4, 0x80000000, NONE, 0, NONE, 0, 0),
    A(xor_i64, 728, 8, 0x55, NONE, 0, NONE, 0, 0),
    A(cmp_i8, 736, 1, 0x7f, NONE, 0, NONE, 0, 0),
    A(cmp_i16, 744, 2, 0, NONE, 0, NONE, 0, 0),
    A(cmp_i32, 752, 4, 0xffffffff, NONE, 0, NONE, 0, 0),
    A(cmp_i64, 760, 8, 0x7fffffff, NONE, 0, NONE, 0, 0),
    A(test_i8, 768, 1, 0x80, NONE, 0, NONE, 0, 0),
    A(test_i16, 776, 2, 0x7fff, NONE, 0, NONE, 0, 0),
    A(test_i32, 784, 4, 0x80000000, NONE, 0, NONE, 0, 0),
    A(test_i64, 792, 8, 0x0f, NONE, 0, NONE, 0, 0),
    /* INC, DEC, NOT, NEG */
    A(inc8, 800, 1, 0x7f, NONE, 0, NONE, 0, CF),
    A(inc16, 808, 2, 0xffff, NONE, 0, NONE, 0, 0),
    A(inc32, 816, 4, 0x0f, NONE, 0, NONE, 0, 0),
    G(inc64, R13, NONE, 1, 0, 824, 8, 0xffffffffffffffff, NONE, 0, NONE, 0, 0),
    A(dec8, 832, 1, 0x80, NONE, 0, NONE, 0, 0),
    A(dec16, 840, 2, 1, NONE, 0, NONE, 0, 0),
    A(dec32, 848, 4, 0, NONE, 0, NONE, 0, CF),
    A(dec64, 856, 8, 0x10, NONE, 0, NONE, 0, 0),
    A(not8, 864, 1, 0x0f, NONE, 0, NONE, 0, 0),
    A(not16, 872, 2, 0, NONE, 0, NONE, 0, 0),
    A(not32, 880, 4, 0x80000000, NONE, 0, NONE, 0, 0),
    A(not64, 888, 8, 0x1234, NONE, 0, NONE, 0, 0),
    A(neg8, 896, 1, 0x80, NONE, 0, NONE, 0, 0),
    A(neg16, 904, 2, 0, NONE, 0, NONE, 0, CF),
    A(neg32, 912, 4, 1, NONE, 0, NONE, 0, 0),
    A(neg64, 920, 8, 0x8000000000000000, NONE, 0, NONE, 0, 0),
    /* XCHG, LOCK, XADD, CMPXCHG */
    A(xchg8_ah, 928, 1, 0x5a, RAX, 0x1122334455667788, NONE, 0, 0),
    A(xchg8_r9b, 936, 1, 0xa5, R9, 0xffff, NONE, 0, 0),
    A(xchg16, 944, 2, 0xbeef, RDX, 0x1111222233334444, NONE, 0, 0),
    A(xchg32, 952, 4, 0xaabbccdd, RAX, 0xffffffff12345678, NONE, 0, 0),
    A(xchg64, 960, 8, 0x0123456789abcdef, R15, 0xfedcba9876543210, NONE, 0, 0),
    A(lock_add32, 968, 4, 0xffffffff, NONE, 0, NONE, 0, 0),
    A(lock_add64, 976, 8, 5, RCX, 0xfffffffffffffffb, NONE, 0, 0),
    A(lock_sub16, 984, 2, 0x8000, RSI, 1, NONE, 0, 0),
    A(lock_inc64, 992, 8, 0xffffffffffffffff, NONE, 0, NONE, 0, CF),
    A(lock_dec8, 1000, 1, 0, NONE, 0, NONE, 0, 0),
    A(lock_and32, 1008, 4, 0x00ff00ff, NONE, 0, NONE, 0, 0),
    A(lock_or8, 1016, 1, 0x80, RDX, 1, NONE, 0, 0),
    A(lock_xor64, 1024, 8, 0xffffffffffffffff, NONE, 0, NONE, 0, 0),
    A(lock_adc8, 1032, 1, 0xff, NONE, 0, NONE, 0, CF),
    A(lock_sbb64, 1040, 8, 0, R8, 0, NONE, 0, CF),
    A(lock_not16, 1048, 2, 0xff00, NONE, 0, NONE, 0, 0),
    A(lock_neg32, 1056, 4, 0x80000000, NONE, 0, NONE, 0, 0),
    A(lock_xchg64, 1064, 8, 42, RBX, 43, NONE, 0, 0),
    A(xadd8, 1072, 1, 0xff, RCX, 0x0101, NONE, 0, 0),
    A(lock_xadd16, 1080, 2, 0x7fff, RDX, 1, NONE, 0, 0),
    A(lock_xadd32, 1088, 4, 0xfffffffe, R10, 0xffffffff00000003, NONE, 0, 0),
    A(lock_xadd64, 1096, 8, 1, RSI, 0xffffffffffffffff, NONE, 0, 0),
    A(cmpxchg8_ok, 1104, 1, 0x5a, RAX, 0x5a, RDX, 0x77, 0),
    A(lock_cmpxchg8_bh, 1112, 1, 0x11, RAX, 0x22, RBX, 0x3300, 0),
    A(lock_cmpxchg16_ok, 1120, 2, 0xbeef, RAX, 0xffffffffffffbeef, RSI, 0x1234, 0),
    A(lock_cmpxchg32_ok, 1128, 4, 0x12345678, RAX, 0xffffffff12345678, RCX, 0x9abcdef0, 0),
    A(lock_cmpxchg32_fail, 1136, 4, 7, RAX, 0xffffffff00000005, RCX, 9, 0),
    A(lock_cmpxchg64_ok, 1144, 8, 0xfedcba9876543210, RAX, 0xfedcba9876543210, R11, 1, 0),
    A(cmpxchg64_fail, 1152, 8, 2, RAX, 3, R11, 4, 0),
    /* the last bytes of a page */
    A(add64_end, -8, 8, 0x7fffffffffffffff, NONE, 0, NONE, 0, 0),
    A(lock_inc32_end, -4, 4, 0xffffffff, NONE, 0, NONE, 0, 0),
    A(cmp64_end, -8, 8, 5, RAX, 5, NONE, 0, 0),
    /* not emulated: the single step runs them */
    S(cross_add, -4, 8, 0xffffffff, NONE, 0),
    S(cross_cmp, -2, 4, 1, NONE, 0),
    S(step_shl, 1160, 4, 0x20000001, NONE, 0),
    S(step_imul, 1168, 8, 0xfffffffdfffffffd, RCX, 7),
    S(step_bts, 1176, 8, 0, NONE, 0),
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

/* The offset of form f's access in its two pages. */
static size_t access_off(const form_t *f)
{
    return (size_t)(f->off >= 0 ? f->off : (long)g_page + f->off);
}

/*
 * Fills two pages (pages 2f and 2f + 1 of the round) with the pattern, and
 * form f's value at its access.
 */
static void fill(uint8_t *p, int round, size_t f)
{
    size_t i;
    int b;

    for (i = 0; i < 2 * g_page; i++) {
        p[i] = pattern(round, 2 * f, i);
    }
    for (b = 0; b < forms[f].msize; b++) {
        p[access_off(&forms[f]) + (size_t)b] = (uint8_t)(forms[f].mem >> (8 * b));
    }
}

/* Each round flips a different set of the forms' flags: CF in and out for ADC and SBB. */
static const unsigned flip[ROUNDS] = { 0, CF, ARITH & ~CF, ARITH };

/* The harness's input for form f accessing base_addr + its offset. */
static void setup(const form_t *f, uint8_t *pages, int round, emu_state_t *s)
{
    uint64_t ea = (uint64_t)(uintptr_t)pages + access_off(f);
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
    if (f->r1 != NONE) {
        s->gpr[f->r1] = f->v1;
    }
    if (f->r2 != NONE) {
        s->gpr[f->r2] = f->v2;
    }
    s->flags = 0x2 | ((f->flags ^ flip[round]) & ARITH);
}

/*
 * The single steps this process took: a SIGTRAP handler in front of the
 * runtime's counts them and passes each on.
 */
static volatile sig_atomic_t g_traps;
static struct sigaction      g_rt_trap;

static void on_trap(int sig, siginfo_t *si, void *uc)
{
    g_traps++;
    if ((g_rt_trap.sa_flags & SA_SIGINFO) && g_rt_trap.sa_sigaction != NULL) {
        g_rt_trap.sa_sigaction(sig, si, uc);
    } else if (g_rt_trap.sa_handler != SIG_DFL && g_rt_trap.sa_handler != SIG_IGN) {
        g_rt_trap.sa_handler(sig);
    }
}

static void count_traps(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    CHECK(sigaction(SIGTRAP, NULL, &g_rt_trap) == 0, "sigaction");
    sa.sa_sigaction = on_trap;
    sa.sa_flags = g_rt_trap.sa_flags | SA_SIGINFO;
    sa.sa_mask = g_rt_trap.sa_mask;
    CHECK(sigaction(SIGTRAP, &sa, NULL) == 0, "sigaction");
}

/* A DISTMEM_* boolean as the runtime reads it (config.c), def when unset. */
static int env_bool(const char *name, int def)
{
    const char *v = getenv(name);

    if (v == NULL || *v == '\0') {
        return def;
    }
    return !(!strcasecmp(v, "0") || !strcasecmp(v, "no") || !strcasecmp(v, "false") ||
             !strcasecmp(v, "off") || !strcasecmp(v, "n"));
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
    int step = env_bool("DISTMEM_FAULT_STEP", 1), emulate = env_bool("DISTMEM_FAULT_EMULATE", 1);
    size_t fi, must = 0;

    CHECK(n >= 2, "emulate needs 2 ranks or more");
    mem = dm_alloc(2 * NFORMS * g_page);
    CHECK(mem != NULL, "dm_alloc: %s", dm_last_error());
    CHECK(posix_memalign((void **)&buf, g_page, 2 * g_page) == 0, "posix_memalign");
    count_traps();
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
                sig_atomic_t traps;
                unsigned i;

                run_native(f, buf, round, fi, &n0, &nat);
                setup(f, pages, round, &d0);
                dsm = d0;
                traps = g_traps;
                f->fn(&dsm); /* faults on distmem memory */
                traps = g_traps - traps;
                must += (size_t)f->emulated;
                if (step && emulate && f->emulated) {
                    CHECK(traps == 0, "round %d form %s: single-stepped (%d traps), not emulated",
                          round, f->name, (int)traps);
                } else if (step) {
                    CHECK(traps >= 1, "round %d form %s: no single step: did it wait for its page?",
                          round, f->name);
                }
                CHECK(dsm.flags == nat.flags,
                      "round %d form %s: EFLAGS %#" PRIx64 ", want %#" PRIx64 " (in %#" PRIx64 ")",
                      round, f->name, dsm.flags, nat.flags, d0.flags);
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
