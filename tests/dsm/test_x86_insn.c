/*
 * The fault path's x86-64 decoder (src/dsm/x86_insn.h) on real instruction
 * bytes: each instruction below is assembled by the assembler into a data
 * section between two labels (never executed), and its decode is compared
 * with the fields written beside it. Then:
 *   - every handled instruction decodes with exactly its own bytes available
 *     and is refused with one byte fewer (the decoder reads nothing past
 *     the instruction);
 *   - RIP-relative operands resolve, through dm_x86_ea, to the label they name;
 *   - the ALU and read-modify-write forms decode with their operation,
 *     LOCK, immediate (sign-extended as the encoding says) and register;
 *   - unhandled forms (LOCK where the processor raises #UD, segment
 *     overrides, VEX/EVEX, string operations, shifts, MUL/DIV, bit tests,
 *     register forms, ...) are refused;
 *   - dm_x86_load_result follows the architectural register-write rules,
 *     dm_x86_writes_mem says which forms write memory;
 *   - dm_x86_alu_run (x86_emu.h) on ordinary memory gives worked examples'
 *     memory, registers and flags, and never loads TF or AC.
 * No processes; the emulation itself runs in tests/dsm/emu_check.c.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "x86_emu.h"
#include "x86_insn.h"

#if defined(__x86_64__)

/* Assembles TEXT between the labels tx86_ID and tx86_ID_end. */
#define INSN(id, text)                                                                 \
    __asm__(".pushsection .rodata.test_x86_insn,\"a\"\n"                               \
            "tx86_" #id ":\n\t" text "\n"                                              \
            "tx86_" #id "_end:\n"                                                      \
            ".popsection");                                                            \
    extern const uint8_t tx86_##id[] __attribute__((visibility("hidden")));           \
    extern const uint8_t tx86_##id##_end[] __attribute__((visibility("hidden")))

/* A target for the RIP-relative operands, in the same section. */
__asm__(".pushsection .rodata.test_x86_insn,\"a\"\n"
        "tx86_target: .quad 0\n"
        ".popsection");
extern const uint8_t tx86_target[] __attribute__((visibility("hidden")));

/* register numbers in encoding order */
enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };
#define NO DM_X86_NOREG
#define RIPREL DM_X86_RIP

INSN(st32_sib, "movl %eax, 8(%rdi,%rcx,4)");
INSN(st64, "movq %rax, (%rdi)");
INSN(st16, "movw %ax, -2(%rsi)");
INSN(st16_rex, "movw %r9w, 0x1000(%r12)");
INSN(st8, "movb %al, (%rdx)");
INSN(st8_ah, "movb %ah, (%rdx)");
INSN(st8_bh, "movb %bh, 3(%rbx)");
INSN(st8_sil, "movb %sil, (%rdi)");
INSN(st8_r15b, "movb %r15b, (%r13)");
INSN(st64_nobase, "movq %r8, 0x12345678(,%r14,8)");
INSN(st64_rsp, "movq %rbp, -8(%rsp)");
INSN(st32_r12idx, "movl %r10d, 0x7f(%r11,%r12,2)");
INSN(ld32_sib, "movl 8(%rdi,%rcx,4), %eax");
INSN(ld64_rsp, "movq (%rsp), %r10");
INSN(ld16, "movw -128(%rbp), %cx");
INSN(ld8_dh, "movb (%rax), %dh");
INSN(ld8_ch, "movb 1(%rax), %ch");
INSN(ld8_r11b, "movb (%rax), %r11b");
INSN(ld8_dil, "movb (%rax), %dil");
INSN(ld64_r13, "movq 0x200(%r13,%r13,1), %r13");
INSN(imm8, "movb $0x80, (%rdi)");
INSN(imm16, "movw $0x8001, 2(%rdi)");
INSN(imm32, "movl $-1, (%rdi)");
INSN(imm64, "movq $-2, (%rdi)");
INSN(imm64pos, "movq $0x7fffffff, 8(%rdi,%rsi,2)");
INSN(imm32_r9, "movl $0x12345678, -0x1000(%r9)");
INSN(zx8_32, "movzbl (%rdi), %eax");
INSN(zx8_16, "movzbw (%rdi), %ax");
INSN(zx8_64, "movzbq (%rdi), %r8");
INSN(zx16_32, "movzwl 4(%rdi), %ecx");
INSN(zx16_64, "movzwq (%rsi,%rdx,8), %r15");
INSN(sx8_32, "movsbl (%rdi), %eax");
INSN(sx8_16, "movsbw (%rdi), %si");
INSN(sx8_64, "movsbq (%rdi), %rbx");
INSN(sx16_32, "movswl (%rdi), %edx");
INSN(sx16_64, "movswq (%rdi), %r9");
INSN(sxd, "movslq 12(%rdi), %rax");
INSN(sxd_r14, "movslq (%r8), %r14");
INSN(moffs_ld8, "movabsb 0x1122334455667788, %al");
INSN(moffs_ld64, "movabsq 0x1122334455667788, %rax");
INSN(moffs_st32, "movabsl %eax, 0x1122334455667788");
INSN(moffs_st16, "movabsw %ax, 0x1122334455667788");
INSN(movups_ld, "movups (%rdi), %xmm1");
INSN(movups_st, "movups %xmm9, (%rax)");
INSN(movupd_ld, "movupd 32(%rdi), %xmm2");
INSN(movaps_ld, "movaps 16(%rdi), %xmm2");
INSN(movapd_st, "movapd %xmm3, (%rdi)");
INSN(movdqu_ld, "movdqu (%rdi,%rcx), %xmm15");
INSN(movdqu_st, "movdqu %xmm3, (%rsi)");
INSN(movdqa_ld, "movdqa (%rdi), %xmm0");
INSN(movdqa_st, "movdqa %xmm8, 0x40(%r8)");
INSN(movss_ld, "movss (%rdi), %xmm4");
INSN(movss_st, "movss %xmm4, (%rdi)");
INSN(movsd_ld, "movsd (%rdi), %xmm12");
INSN(movsd_st, "movsd %xmm5, 8(%rdi)");
INSN(movq_ld, "movq (%rdi), %xmm5");
INSN(movq_st, "movq %xmm5, (%rdi)");
INSN(movd_ld, "movd (%rdi), %xmm6");
INSN(movd_st, "movd %xmm6, (%rdi)");
/* RIP-relative */
INSN(rip_ld, "movq tx86_target(%rip), %rdx");
INSN(rip_st, "movl %esi, tx86_target(%rip)");
INSN(rip_imm, "movl $5, tx86_target(%rip)");
INSN(rip_imm8, "movb $5, tx86_target+3(%rip)");
INSN(rip_zx, "movzwl tx86_target(%rip), %ecx");
INSN(rip_sse, "movdqu tx86_target(%rip), %xmm7");
INSN(rip_alu_imm, "addl $7, tx86_target(%rip)");   /* the displacement counts from after imm32 */
INSN(rip_alu_imm8, "cmpb $7, tx86_target+1(%rip)");
INSN(rip_inc, "incq tx86_target(%rip)");
INSN(rip_rm, "subw tx86_target+2(%rip), %r9w");
/* ALU and read-modify-write */
INSN(add_mr8, "addb %cl, (%rdi)");
INSN(add_mr8_ah, "addb %ah, 4(%rsi)");
INSN(or_mr16, "orw %dx, (%rdi,%rbx,2)");
INSN(adc_mr32, "adcl %r9d, -8(%rbp)");
INSN(sbb_mr64, "sbbq %r15, 0x100(%r12)");
INSN(and_mr8_sil, "andb %sil, (%rdi)");
INSN(sub_mr32_rsp, "subl %eax, (%rsp)");
INSN(xor_mr64, "xorq %rdx, (%rdi)");
INSN(cmp_mr16, "cmpw %cx, (%rdi)");
INSN(add_rm8_bh, "addb (%rdi), %bh");
INSN(or_rm32, "orl 4(%rdi), %eax");
INSN(adc_rm64, "adcq (%rdi), %r11");
INSN(sbb_rm16, "sbbw (%rdi), %r8w");
INSN(and_rm8, "andb (%rdi), %r12b");
INSN(sub_rm64, "subq (%rdi,%rcx,8), %rdx");
INSN(xor_rm32, "xorl (%rdi), %esi");
INSN(cmp_rm64, "cmpq (%rdi), %rax");
INSN(cmp_rm8_dh, "cmpb (%rdi), %dh");
INSN(add_i8, "addb $0x80, (%rdi)");
INSN(add_i64_bench, "addq $0x1, (%rax)");
INSN(or_i16, "orw $0x1234, (%rdi)");
INSN(adc_i32, "adcl $0x12345678, 8(%rdi)");
INSN(sbb_i64, "sbbq $-2, (%rdi)");
INSN(and_i64, "andq $0x7fffff00, (%rdi)");
INSN(and_i64_neg, "andq $-0x100000, (%r14)");
INSN(sub_i16_ib, "subw $-128, (%rdi)");
INSN(sub_i16_iw, "subw $0x8001, (%rdi)");
INSN(xor_i8, "xorb $0xff, (%rdi)");
INSN(cmp_i32, "cmpl $-1, (%rdi)");
INSN(cmp_i8, "cmpb $1, 3(%rdi)");
INSN(test_mr8, "testb %al, (%rdi)");
INSN(test_mr64, "testq %r10, (%rdi)");
INSN(test_i8, "testb $0x81, (%rdi)");
INSN(test_i16, "testw $0x8000, (%rdi)");
INSN(test_i32, "testl $0x80000000, (%rdi)");
INSN(test_i64, "testq $-16, (%rdi)");
INSN(inc8, "incb (%rdi)");
INSN(inc16, "incw (%rdi)");
INSN(dec32, "decl 4(%rdi)");
INSN(dec64, "decq (%r13)");
INSN(not8, "notb (%rdi)");
INSN(not64, "notq (%rdi)");
INSN(neg16, "negw (%rdi)");
INSN(neg32, "negl (%rdi)");
INSN(xchg8_ch, "xchgb %ch, (%rdi)");
INSN(xchg32, "xchgl %eax, (%rdi)");
INSN(xchg64, "xchgq %r8, (%rdi)");
INSN(xadd8, "xaddb %dl, (%rdi)");
INSN(cmpxchg64, "cmpxchgq %r9, (%rdi)");
INSN(lock_add, "lock addl $1, (%rdi)");
INSN(lock_sub64, "lock subq %rax, (%rdi)");
INSN(lock_inc, "lock incq (%rdi)");
INSN(lock_dec8, "lock decb (%rdi)");
INSN(lock_xadd32, "lock xaddl %ecx, (%rdi)");
INSN(lock_cmpxchg32, "lock cmpxchgl %ecx, (%rdi)");
INSN(lock_cmpxchg8_bh, "lock cmpxchgb %bh, (%rdi)");
INSN(lock_cmpxchg16, "lock cmpxchgw %si, (%rdi)");
INSN(lock_xchg, "lock xchgq %rax, (%rdi)");
INSN(lock_and8, "lock andb $0x0f, (%rdi)");
INSN(lock_or16, "lock orw %dx, (%rdi)");
INSN(lock_adc, "lock adcq $5, (%rdi)");
INSN(lock_sbb8, "lock sbbb %al, (%rdi)");
INSN(lock_xor, "lock xorq $-1, (%rdi)");
INSN(lock_not, "lock notl (%rdi)");
INSN(lock_neg, "lock negq (%rdi)");
/* refused */
INSN(no_lock, ".byte 0xf0\n\tmovl %eax, (%rdi)"); /* LOCK MOV: #UD */
INSN(no_lock_cmp, ".byte 0xf0\n\tcmpl %eax, (%rdi)");
INSN(no_lock_cmp_imm, ".byte 0xf0\n\tcmpq $1, (%rdi)");
INSN(no_lock_test, ".byte 0xf0\n\ttestl %eax, (%rdi)");
INSN(no_lock_rm, ".byte 0xf0\n\taddl (%rdi), %eax");
INSN(no_lock_movzx, ".byte 0xf0\n\tmovzbl (%rdi), %eax");
INSN(no_add_reg, "addl %eax, %ebx");
INSN(no_add_rm_reg, "addq %rax, %rbx");
INSN(no_inc_reg, "incl %eax");
INSN(no_grp1_reg, "addq $1, %rax");
INSN(no_test_reg, "testb $1, %al");
INSN(no_add_al, "addb $1, %al");
INSN(no_add_eax, "addl $1000, %eax");
INSN(no_xchg_reg, "xchgq %rax, %rbx");
INSN(no_cmpxchg_reg, "cmpxchgl %ecx, %edx");
INSN(no_mul, "mull (%rdi)");
INSN(no_imul, "imull (%rdi)");
INSN(no_imul2, "imull (%rdi), %eax");
INSN(no_imul3, "imull $3, (%rdi), %eax");
INSN(no_div, "divl (%rdi)");
INSN(no_idiv, "idivq (%rdi)");
INSN(no_shl, "shll (%rdi)");
INSN(no_shl_imm, "shlq $3, (%rdi)");
INSN(no_rol_cl, "rolb %cl, (%rdi)");
INSN(no_bts, "btsl $3, (%rdi)");
INSN(no_lock_bts, "lock btsq %rax, (%rdi)");
INSN(no_cmpxchg8b, "lock cmpxchg8b (%rdi)");
INSN(no_cmpxchg16b, "lock cmpxchg16b (%rdi)");
INSN(no_jmp, "jmp *(%rdi)");
INSN(no_fs_add, "addl $1, %fs:(%rdi)");
INSN(no_gs_lock, "lock incq %gs:8");
INSN(no_addr32_add, "addl $1, (%edi)");
INSN(no_adcx, "adcx (%rdi), %eax");
INSN(no_andn_vex, "andn (%rdi), %eax, %ebx");
INSN(no_xrelease_add, "xrelease lock addl $1, (%rdi)");
INSN(no_xacquire_xchg, "xacquire xchgl %eax, (%rdi)");
INSN(no_fs, "movq %fs:0, %rax");
INSN(no_gs, "movl %eax, %gs:8(%rdi)");
INSN(no_ds, ".byte 0x3e\n\tmovl (%rdi), %eax"); /* gas drops a written %ds: */
INSN(no_es, ".byte 0x26\n\tmovl %eax, (%rdi)");
INSN(no_reg, "movl %eax, %ebx");
INSN(no_reg8, "movb %ah, %bl");
INSN(no_imm_reg, "movl $1, %eax");
INSN(no_zx_reg, "movzbl %al, %eax");
INSN(no_movsb, "rep movsb");
INSN(no_movsl, "movsl");
INSN(no_stos, "stosq");
INSN(no_push, "pushq (%rdi)");
INSN(no_pop, "popq (%rdi)");
INSN(no_call, "call *(%rdi)");
INSN(no_addr32, "movl (%edi), %eax");
INSN(no_vex, "vmovdqu (%rdi), %ymm0");
INSN(no_vex128, "vmovdqu (%rdi), %xmm0");
INSN(no_vmovq, "vmovq %xmm1, (%rdi)");
INSN(no_mmx, "movq %mm0, (%rdi)");
INSN(no_movntdq, "movntdq %xmm0, (%rdi)");
INSN(no_movnti, "movnti %eax, (%rdi)");
INSN(no_lea, "leaq 8(%rdi), %rax");
INSN(no_cmov, "cmovel (%rdi), %eax");
INSN(no_bswap_mov, "movbe (%rdi), %eax");
INSN(no_xrelease, "xrelease movl %eax, (%rdi)");
INSN(no_movhps, "movhps (%rdi), %xmm0");
INSN(no_lddqu, "lddqu (%rdi), %xmm0");
INSN(no_pinsr, "pinsrd $1, (%rdi), %xmm0");

typedef struct want {
    const char    *name;
    const uint8_t *b, *e;
    int            kind, msize, rsize, rclass, reg, base, index, scale;
    int64_t        disp;
    uint64_t       imm;
    int            align;
} want_t;

#define W(id, kind, msize, rsize, rclass, reg, base, index, scale, disp, imm, align)      \
    { #id, tx86_##id, tx86_##id##_end, DM_X86_##kind, msize, rsize, DM_X86_##rclass, reg, \
      base, index, scale, disp, imm, align }

static const want_t handled[] = {
    W(st32_sib, STORE, 4, 4, GPR, RAX, RDI, RCX, 4, 8, 0, 1),
    W(st64, STORE, 8, 8, GPR, RAX, RDI, NO, 1, 0, 0, 1),
    W(st16, STORE, 2, 2, GPR, RAX, RSI, NO, 1, -2, 0, 1),
    W(st16_rex, STORE, 2, 2, GPR, R9, R12, NO, 1, 0x1000, 0, 1),
    W(st8, STORE, 1, 1, GPR, RAX, RDX, NO, 1, 0, 0, 1),
    W(st8_ah, STORE, 1, 1, HIGH8, 0, RDX, NO, 1, 0, 0, 1),
    W(st8_bh, STORE, 1, 1, HIGH8, 3, RBX, NO, 1, 3, 0, 1),
    W(st8_sil, STORE, 1, 1, GPR, RSI, RDI, NO, 1, 0, 0, 1),
    W(st8_r15b, STORE, 1, 1, GPR, R15, R13, NO, 1, 0, 0, 1),
    W(st64_nobase, STORE, 8, 8, GPR, R8, NO, R14, 8, 0x12345678, 0, 1),
    W(st64_rsp, STORE, 8, 8, GPR, RBP, RSP, NO, 1, -8, 0, 1),
    W(st32_r12idx, STORE, 4, 4, GPR, R10, R11, R12, 2, 0x7f, 0, 1),
    W(ld32_sib, LOAD, 4, 4, GPR, RAX, RDI, RCX, 4, 8, 0, 1),
    W(ld64_rsp, LOAD, 8, 8, GPR, R10, RSP, NO, 1, 0, 0, 1),
    W(ld16, LOAD, 2, 2, GPR, RCX, RBP, NO, 1, -128, 0, 1),
    W(ld8_dh, LOAD, 1, 1, HIGH8, 2, RAX, NO, 1, 0, 0, 1),
    W(ld8_ch, LOAD, 1, 1, HIGH8, 1, RAX, NO, 1, 1, 0, 1),
    W(ld8_r11b, LOAD, 1, 1, GPR, R11, RAX, NO, 1, 0, 0, 1),
    W(ld8_dil, LOAD, 1, 1, GPR, RDI, RAX, NO, 1, 0, 0, 1),
    W(ld64_r13, LOAD, 8, 8, GPR, R13, R13, R13, 1, 0x200, 0, 1),
    W(imm8, STORE_IMM, 1, 0, GPR, 0, RDI, NO, 1, 0, 0x80, 1),
    W(imm16, STORE_IMM, 2, 0, GPR, 0, RDI, NO, 1, 2, 0x8001, 1),
    W(imm32, STORE_IMM, 4, 0, GPR, 0, RDI, NO, 1, 0, 0xffffffffu, 1),
    W(imm64, STORE_IMM, 8, 0, GPR, 0, RDI, NO, 1, 0, UINT64_C(0xfffffffffffffffe), 1),
    W(imm64pos, STORE_IMM, 8, 0, GPR, 0, RDI, RSI, 2, 8, 0x7fffffff, 1),
    W(imm32_r9, STORE_IMM, 4, 0, GPR, 0, R9, NO, 1, -0x1000, 0x12345678, 1),
    W(zx8_32, LOAD_ZX, 1, 4, GPR, RAX, RDI, NO, 1, 0, 0, 1),
    W(zx8_16, LOAD_ZX, 1, 2, GPR, RAX, RDI, NO, 1, 0, 0, 1),
    W(zx8_64, LOAD_ZX, 1, 8, GPR, R8, RDI, NO, 1, 0, 0, 1),
    W(zx16_32, LOAD_ZX, 2, 4, GPR, RCX, RDI, NO, 1, 4, 0, 1),
    W(zx16_64, LOAD_ZX, 2, 8, GPR, R15, RSI, RDX, 8, 0, 0, 1),
    W(sx8_32, LOAD_SX, 1, 4, GPR, RAX, RDI, NO, 1, 0, 0, 1),
    W(sx8_16, LOAD_SX, 1, 2, GPR, RSI, RDI, NO, 1, 0, 0, 1),
    W(sx8_64, LOAD_SX, 1, 8, GPR, RBX, RDI, NO, 1, 0, 0, 1),
    W(sx16_32, LOAD_SX, 2, 4, GPR, RDX, RDI, NO, 1, 0, 0, 1),
    W(sx16_64, LOAD_SX, 2, 8, GPR, R9, RDI, NO, 1, 0, 0, 1),
    W(sxd, LOAD_SX, 4, 8, GPR, RAX, RDI, NO, 1, 12, 0, 1),
    W(sxd_r14, LOAD_SX, 4, 8, GPR, R14, R8, NO, 1, 0, 0, 1),
    W(moffs_ld8, LOAD, 1, 1, GPR, RAX, NO, NO, 1, 0x1122334455667788, 0, 1),
    W(moffs_ld64, LOAD, 8, 8, GPR, RAX, NO, NO, 1, 0x1122334455667788, 0, 1),
    W(moffs_st32, STORE, 4, 4, GPR, RAX, NO, NO, 1, 0x1122334455667788, 0, 1),
    W(moffs_st16, STORE, 2, 2, GPR, RAX, NO, NO, 1, 0x1122334455667788, 0, 1),
    W(movups_ld, LOAD, 16, 16, XMM, 1, RDI, NO, 1, 0, 0, 1),
    W(movups_st, STORE, 16, 16, XMM, 9, RAX, NO, 1, 0, 0, 1),
    W(movupd_ld, LOAD, 16, 16, XMM, 2, RDI, NO, 1, 32, 0, 1),
    W(movaps_ld, LOAD, 16, 16, XMM, 2, RDI, NO, 1, 16, 0, 16),
    W(movapd_st, STORE, 16, 16, XMM, 3, RDI, NO, 1, 0, 0, 16),
    W(movdqu_ld, LOAD, 16, 16, XMM, 15, RDI, RCX, 1, 0, 0, 1),
    W(movdqu_st, STORE, 16, 16, XMM, 3, RSI, NO, 1, 0, 0, 1),
    W(movdqa_ld, LOAD, 16, 16, XMM, 0, RDI, NO, 1, 0, 0, 16),
    W(movdqa_st, STORE, 16, 16, XMM, 8, R8, NO, 1, 0x40, 0, 16),
    W(movss_ld, LOAD_ZX, 4, 16, XMM, 4, RDI, NO, 1, 0, 0, 1),
    W(movss_st, STORE, 4, 4, XMM, 4, RDI, NO, 1, 0, 0, 1),
    W(movsd_ld, LOAD_ZX, 8, 16, XMM, 12, RDI, NO, 1, 0, 0, 1),
    W(movsd_st, STORE, 8, 8, XMM, 5, RDI, NO, 1, 8, 0, 1),
    W(movq_ld, LOAD_ZX, 8, 16, XMM, 5, RDI, NO, 1, 0, 0, 1),
    W(movq_st, STORE, 8, 8, XMM, 5, RDI, NO, 1, 0, 0, 1),
    W(movd_ld, LOAD_ZX, 4, 16, XMM, 6, RDI, NO, 1, 0, 0, 1),
    W(movd_st, STORE, 4, 4, XMM, 6, RDI, NO, 1, 0, 0, 1),
};

/* RIP-relative: the operand must resolve to tx86_target + off. */
typedef struct want_rip {
    const char    *name;
    const uint8_t *b, *e;
    int            kind, msize;
    uint64_t       off, imm;
} want_rip_t;

#define R(id, kind, msize, off, imm) \
    { #id, tx86_##id, tx86_##id##_end, DM_X86_##kind, msize, off, imm }

static const want_rip_t riprel[] = {
    R(rip_ld, LOAD, 8, 0, 0),
    R(rip_st, STORE, 4, 0, 0),
    R(rip_imm, STORE_IMM, 4, 0, 5),  /* the displacement counts from after the immediate */
    R(rip_imm8, STORE_IMM, 1, 3, 5),
    R(rip_zx, LOAD_ZX, 2, 0, 0),
    R(rip_sse, LOAD, 16, 0, 0),
    R(rip_alu_imm, ALU_MI, 4, 0, 7),
    R(rip_alu_imm8, ALU_MI, 1, 1, 7),
    R(rip_inc, ALU_M, 8, 0, 0),
    R(rip_rm, ALU_RM, 2, 2, 0),
};

/* The ALU forms: the operation, LOCK and immediate too (rsize: msize for MR and RM, else 0). */
typedef struct want_alu {
    const char    *name;
    const uint8_t *b, *e;
    int            kind, op, lock, msize, rclass, reg, base, index, scale;
    int64_t        disp;
    uint64_t       imm;
} want_alu_t;

#define A(id, kind, op, lock, msize, rclass, reg, base, index, scale, disp, imm)             \
    { #id, tx86_##id, tx86_##id##_end, DM_X86_ALU_##kind, DM_X86_##op, lock, msize,          \
      DM_X86_##rclass, reg, base, index, scale, disp, imm }

static const want_alu_t alu[] = {
    A(add_mr8, MR, ADD, 0, 1, GPR, RCX, RDI, NO, 1, 0, 0),
    A(add_mr8_ah, MR, ADD, 0, 1, HIGH8, 0, RSI, NO, 1, 4, 0),
    A(or_mr16, MR, OR, 0, 2, GPR, RDX, RDI, RBX, 2, 0, 0),
    A(adc_mr32, MR, ADC, 0, 4, GPR, R9, RBP, NO, 1, -8, 0),
    A(sbb_mr64, MR, SBB, 0, 8, GPR, R15, R12, NO, 1, 0x100, 0),
    A(and_mr8_sil, MR, AND, 0, 1, GPR, RSI, RDI, NO, 1, 0, 0),
    A(sub_mr32_rsp, MR, SUB, 0, 4, GPR, RAX, RSP, NO, 1, 0, 0),
    A(xor_mr64, MR, XOR, 0, 8, GPR, RDX, RDI, NO, 1, 0, 0),
    A(cmp_mr16, MR, CMP, 0, 2, GPR, RCX, RDI, NO, 1, 0, 0),
    A(add_rm8_bh, RM, ADD, 0, 1, HIGH8, 3, RDI, NO, 1, 0, 0),
    A(or_rm32, RM, OR, 0, 4, GPR, RAX, RDI, NO, 1, 4, 0),
    A(adc_rm64, RM, ADC, 0, 8, GPR, R11, RDI, NO, 1, 0, 0),
    A(sbb_rm16, RM, SBB, 0, 2, GPR, R8, RDI, NO, 1, 0, 0),
    A(and_rm8, RM, AND, 0, 1, GPR, R12, RDI, NO, 1, 0, 0),
    A(sub_rm64, RM, SUB, 0, 8, GPR, RDX, RDI, RCX, 8, 0, 0),
    A(xor_rm32, RM, XOR, 0, 4, GPR, RSI, RDI, NO, 1, 0, 0),
    A(cmp_rm64, RM, CMP, 0, 8, GPR, RAX, RDI, NO, 1, 0, 0),
    A(cmp_rm8_dh, RM, CMP, 0, 1, HIGH8, 2, RDI, NO, 1, 0, 0),
    A(add_i8, MI, ADD, 0, 1, GPR, 0, RDI, NO, 1, 0, 0x80),
    A(add_i64_bench, MI, ADD, 0, 8, GPR, 0, RAX, NO, 1, 0, 1),
    A(or_i16, MI, OR, 0, 2, GPR, 0, RDI, NO, 1, 0, 0x1234),
    A(adc_i32, MI, ADC, 0, 4, GPR, 0, RDI, NO, 1, 8, 0x12345678),
    A(sbb_i64, MI, SBB, 0, 8, GPR, 0, RDI, NO, 1, 0, UINT64_C(0xfffffffffffffffe)),
    A(and_i64, MI, AND, 0, 8, GPR, 0, RDI, NO, 1, 0, 0x7fffff00),
    A(and_i64_neg, MI, AND, 0, 8, GPR, 0, R14, NO, 1, 0, UINT64_C(0xfffffffffff00000)),
    A(sub_i16_ib, MI, SUB, 0, 2, GPR, 0, RDI, NO, 1, 0, 0xff80),
    A(sub_i16_iw, MI, SUB, 0, 2, GPR, 0, RDI, NO, 1, 0, 0x8001),
    A(xor_i8, MI, XOR, 0, 1, GPR, 0, RDI, NO, 1, 0, 0xff),
    A(cmp_i32, MI, CMP, 0, 4, GPR, 0, RDI, NO, 1, 0, 0xffffffffu),
    A(cmp_i8, MI, CMP, 0, 1, GPR, 0, RDI, NO, 1, 3, 1),
    A(test_mr8, MR, TEST, 0, 1, GPR, RAX, RDI, NO, 1, 0, 0),
    A(test_mr64, MR, TEST, 0, 8, GPR, R10, RDI, NO, 1, 0, 0),
    A(test_i8, MI, TEST, 0, 1, GPR, 0, RDI, NO, 1, 0, 0x81),
    A(test_i16, MI, TEST, 0, 2, GPR, 0, RDI, NO, 1, 0, 0x8000),
    A(test_i32, MI, TEST, 0, 4, GPR, 0, RDI, NO, 1, 0, 0x80000000u),
    A(test_i64, MI, TEST, 0, 8, GPR, 0, RDI, NO, 1, 0, UINT64_C(0xfffffffffffffff0)),
    A(inc8, M, INC, 0, 1, GPR, 0, RDI, NO, 1, 0, 0),
    A(inc16, M, INC, 0, 2, GPR, 0, RDI, NO, 1, 0, 0),
    A(dec32, M, DEC, 0, 4, GPR, 0, RDI, NO, 1, 4, 0),
    A(dec64, M, DEC, 0, 8, GPR, 0, R13, NO, 1, 0, 0),
    A(not8, M, NOT, 0, 1, GPR, 0, RDI, NO, 1, 0, 0),
    A(not64, M, NOT, 0, 8, GPR, 0, RDI, NO, 1, 0, 0),
    A(neg16, M, NEG, 0, 2, GPR, 0, RDI, NO, 1, 0, 0),
    A(neg32, M, NEG, 0, 4, GPR, 0, RDI, NO, 1, 0, 0),
    A(xchg8_ch, MR, XCHG, 0, 1, HIGH8, 1, RDI, NO, 1, 0, 0),
    A(xchg32, MR, XCHG, 0, 4, GPR, RAX, RDI, NO, 1, 0, 0),
    A(xchg64, MR, XCHG, 0, 8, GPR, R8, RDI, NO, 1, 0, 0),
    A(xadd8, MR, XADD, 0, 1, GPR, RDX, RDI, NO, 1, 0, 0),
    A(cmpxchg64, MR, CMPXCHG, 0, 8, GPR, R9, RDI, NO, 1, 0, 0),
    A(lock_add, MI, ADD, 1, 4, GPR, 0, RDI, NO, 1, 0, 1),
    A(lock_sub64, MR, SUB, 1, 8, GPR, RAX, RDI, NO, 1, 0, 0),
    A(lock_inc, M, INC, 1, 8, GPR, 0, RDI, NO, 1, 0, 0),
    A(lock_dec8, M, DEC, 1, 1, GPR, 0, RDI, NO, 1, 0, 0),
    A(lock_xadd32, MR, XADD, 1, 4, GPR, RCX, RDI, NO, 1, 0, 0),
    A(lock_cmpxchg32, MR, CMPXCHG, 1, 4, GPR, RCX, RDI, NO, 1, 0, 0),
    A(lock_cmpxchg8_bh, MR, CMPXCHG, 1, 1, HIGH8, 3, RDI, NO, 1, 0, 0),
    A(lock_cmpxchg16, MR, CMPXCHG, 1, 2, GPR, RSI, RDI, NO, 1, 0, 0),
    A(lock_xchg, MR, XCHG, 1, 8, GPR, RAX, RDI, NO, 1, 0, 0),
    A(lock_and8, MI, AND, 1, 1, GPR, 0, RDI, NO, 1, 0, 0x0f),
    A(lock_or16, MR, OR, 1, 2, GPR, RDX, RDI, NO, 1, 0, 0),
    A(lock_adc, MI, ADC, 1, 8, GPR, 0, RDI, NO, 1, 0, 5),
    A(lock_sbb8, MR, SBB, 1, 1, GPR, RAX, RDI, NO, 1, 0, 0),
    A(lock_xor, MI, XOR, 1, 8, GPR, 0, RDI, NO, 1, 0, UINT64_MAX),
    A(lock_not, M, NOT, 1, 4, GPR, 0, RDI, NO, 1, 0, 0),
    A(lock_neg, M, NEG, 1, 8, GPR, 0, RDI, NO, 1, 0, 0),
};

typedef struct refused {
    const char    *name;
    const uint8_t *b, *e;
} refused_t;

#define N(id) { #id, tx86_##id, tx86_##id##_end }

static const refused_t refused[] = {
    N(no_lock), N(no_fs), N(no_gs), N(no_ds), N(no_es), N(no_reg), N(no_reg8), N(no_imm_reg),
    N(no_zx_reg), N(no_movsb),
    N(no_movsl), N(no_stos), N(no_push), N(no_pop), N(no_call), N(no_addr32), N(no_vex),
    N(no_vex128), N(no_vmovq), N(no_mmx), N(no_movntdq), N(no_movnti), N(no_lea),
    N(no_cmov), N(no_bswap_mov), N(no_xrelease), N(no_movhps), N(no_lddqu), N(no_pinsr),
    N(no_lock_cmp), N(no_lock_cmp_imm), N(no_lock_test), N(no_lock_rm), N(no_lock_movzx),
    N(no_add_reg), N(no_add_rm_reg), N(no_inc_reg), N(no_grp1_reg), N(no_test_reg),
    N(no_add_al), N(no_add_eax), N(no_xchg_reg), N(no_cmpxchg_reg), N(no_mul), N(no_imul),
    N(no_imul2), N(no_imul3), N(no_div), N(no_idiv), N(no_shl), N(no_shl_imm), N(no_rol_cl),
    N(no_bts), N(no_lock_bts), N(no_cmpxchg8b), N(no_cmpxchg16b), N(no_jmp), N(no_fs_add),
    N(no_gs_lock), N(no_addr32_add), N(no_adcx), N(no_andn_vex), N(no_xrelease_add),
    N(no_xacquire_xchg),
};

/* Hand-written bytes the assembler does not produce for the mnemonics above. */
typedef struct bytes {
    const char *name;
    uint8_t     b[16];
    size_t      n;
    int         handled;
    int         kind, msize, rsize, reg;
} bytes_t;

static const bytes_t bytes[] = {
    /* 66 REX.W 0F 6E /r: movq xmm6, [rdi] (the movd encoding with REX.W) */
    { "movq_6e_rexw", { 0x66, 0x48, 0x0f, 0x6e, 0x37 }, 5, 1, DM_X86_LOAD_ZX, 8, 16, 6 },
    /* 66 REX.W 0F 7E /r: movq [rdi], xmm6 */
    { "movq_7e_rexw", { 0x66, 0x48, 0x0f, 0x7e, 0x37 }, 5, 1, DM_X86_STORE, 8, 8, 6 },
    /* 66 REX.W 89: REX.W wins over 66, a 64-bit store */
    { "66_rexw_mov", { 0x66, 0x48, 0x89, 0x07 }, 4, 1, DM_X86_STORE, 8, 8, RAX },
    /* 66 66 89: a repeated prefix */
    { "66_66_mov", { 0x66, 0x66, 0x89, 0x07 }, 4, 1, DM_X86_STORE, 2, 2, RAX },
    /* 66 REX.W C7 /0: imm32 sign-extended to 64 bits, not imm16 */
    { "66_rexw_imm", { 0x66, 0x48, 0xc7, 0x07, 0xff, 0xff, 0xff, 0xff }, 8, 1,
      DM_X86_STORE_IMM, 8, 0, 0 },
    /* REX then 66: the REX does not count (not last): refused */
    { "rex_then_66", { 0x48, 0x66, 0x89, 0x07 }, 4, 0, 0, 0, 0, 0 },
    /* 63 without REX.W: MOVSXD r32 (a plain move, discouraged): refused */
    { "movsxd_norexw", { 0x63, 0x07 }, 2, 0, 0, 0, 0, 0 },
    /* C7 /1: not a MOV */
    { "c7_slash1", { 0xc7, 0x0f, 1, 0, 0, 0 }, 6, 0, 0, 0, 0, 0 },
    /* EVEX vmovdqu64 zmm0, [rdi] */
    { "evex", { 0x62, 0xf1, 0xfe, 0x48, 0x6f, 0x07 }, 6, 0, 0, 0, 0, 0 },
    /* F2 88: XACQUIRE mov */
    { "xacquire", { 0xf2, 0x88, 0x07 }, 3, 0, 0, 0, 0, 0 },
    /* F3 66 0F 6F: two mandatory prefixes */
    { "f3_66_6f", { 0xf3, 0x66, 0x0f, 0x6f, 0x07 }, 5, 0, 0, 0, 0, 0 },
    /* 15 prefixes then an opcode: past the architectural length */
    { "too_long", { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
                    0x66, 0x66, 0x89, 0x07 }, 16, 0, 0, 0, 0, 0 },
    /* 14 prefixes + opcode + ModRM = 16 bytes: refused; 13 + 2 = 15: handled */
    { "max_len", { 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66,
                   0x66, 0x89, 0x07 }, 15, 1, DM_X86_STORE, 2, 2, RAX },
    /* empty */
    { "empty", { 0 }, 0, 0, 0, 0, 0, 0 },
    /* 82 /0 ib: an alias of 80 outside 64-bit mode, invalid in it */
    { "alu_82", { 0x82, 0x07, 0x01 }, 3, 0, 0, 0, 0, 0 },
    /* F6 /1 ib: an undocumented alias of TEST */
    { "f6_slash1", { 0xf6, 0x0f, 0x01 }, 3, 0, 0, 0, 0, 0 },
    /* FE /2: invalid; FF /3: far call; FF /6: push */
    { "fe_slash2", { 0xfe, 0x17 }, 2, 0, 0, 0, 0, 0 },
    { "ff_slash3", { 0xff, 0x1f }, 2, 0, 0, 0, 0, 0 },
    { "ff_slash6", { 0xff, 0x37 }, 2, 0, 0, 0, 0, 0 },
    /* F3 F0 83 /0: XRELEASE LOCK ADD */
    { "xrelease_lock_add", { 0xf3, 0xf0, 0x83, 0x07, 0x01 }, 5, 0, 0, 0, 0, 0 },
    /* F0 F0 83 /0 ib: a repeated LOCK */
    { "lock_lock_add", { 0xf0, 0xf0, 0x83, 0x07, 0x01 }, 5, 1, DM_X86_ALU_MI, 4, 0, 0 },
    /* F0 66 83 /0 ib: LOCK before 66, imm8 sign-extended to 16 bits */
    { "lock_66_add", { 0xf0, 0x66, 0x83, 0x07, 0xff }, 5, 1, DM_X86_ALU_MI, 2, 0, 0 },
    /* REX then F0: the REX does not count (not last): refused */
    { "rex_then_lock", { 0x48, 0xf0, 0x01, 0x07 }, 4, 0, 0, 0, 0, 0 },
    /* 66 REX.W 81 /0 id: REX.W wins, imm32 sign-extended to 64 bits */
    { "66_rexw_81", { 0x66, 0x48, 0x81, 0x07, 0x00, 0x00, 0x00, 0x80 }, 8, 1, DM_X86_ALU_MI, 8,
      0, 0 },
    /* 40 00 27: addb %spl, (%rdi) (with a REX, 4 is SPL, not AH) */
    { "rex_spl", { 0x40, 0x00, 0x27 }, 3, 1, DM_X86_ALU_MR, 1, 1, RSP },
    /* F0 F6 /0: LOCK TEST; F0 01 C0: LOCK on a register form */
    { "lock_test", { 0xf0, 0xf6, 0x07, 0x01 }, 4, 0, 0, 0, 0, 0 },
    { "lock_reg_add", { 0xf0, 0x01, 0xc0 }, 3, 0, 0, 0, 0, 0 },
    /* F2 0F B1: XACQUIRE CMPXCHG; 66 0F C0: a meaningless 66 on the byte form is ignored */
    { "xacquire_cmpxchg", { 0xf2, 0x0f, 0xb1, 0x0f }, 4, 0, 0, 0, 0, 0 },
    { "66_xadd8", { 0x66, 0x0f, 0xc0, 0x0f }, 4, 1, DM_X86_ALU_MR, 1, 1, 1 },
};

static int fails;

#define EXPECT(cond, ...)                                 \
    do {                                                  \
        if (!(cond)) {                                    \
            fprintf(stderr, "FAIL %s: ", name);           \
            fprintf(stderr, __VA_ARGS__);                 \
            fprintf(stderr, "\n");                        \
            fails++;                                      \
        }                                                 \
    } while (0)

/* Prints an "ok" line when no check failed since the last one. */
static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void report(const char *fmt, ...)
{
    static int reported;
    va_list ap;

    if (fails == reported) {
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
    }
    reported = fails;
}

static void dump(const char *name, const uint8_t *b, size_t n)
{
    size_t i;

    fprintf(stderr, "  %s bytes:", name);
    for (i = 0; i < n; i++) {
        fprintf(stderr, " %02x", b[i]);
    }
    fprintf(stderr, "\n");
}

static void check_handled(const want_t *w)
{
    const char *name = w->name;
    size_t n = (size_t)(w->e - w->b);
    dm_x86_insn_t in, tmp;
    int before = fails;

    memset(&in, 0xa5, sizeof(in));
    if (dm_x86_decode(w->b, n, &in) != 0) {
        EXPECT(0, "refused");
        dump(name, w->b, n);
        return;
    }
    EXPECT(in.len == n, "len %u, want %zu", in.len, n);
    EXPECT(in.kind == w->kind, "kind %u, want %d", in.kind, w->kind);
    EXPECT(in.msize == w->msize, "msize %u, want %d", in.msize, w->msize);
    EXPECT(in.rsize == w->rsize, "rsize %u, want %d", in.rsize, w->rsize);
    if (w->kind != DM_X86_STORE_IMM) {
        EXPECT(in.rclass == w->rclass, "rclass %u, want %d", in.rclass, w->rclass);
        EXPECT(in.reg == w->reg, "reg %u, want %d", in.reg, w->reg);
    }
    EXPECT(in.base == w->base, "base %d, want %d", in.base, w->base);
    EXPECT(in.index == w->index, "index %d, want %d", in.index, w->index);
    if (w->index != NO) {
        EXPECT(in.scale == w->scale, "scale %u, want %d", in.scale, w->scale);
    }
    EXPECT(in.disp == w->disp, "disp %" PRId64 ", want %" PRId64, in.disp, w->disp);
    EXPECT(in.align == w->align, "align %u, want %d", in.align, w->align);
    EXPECT(in.op == DM_X86_MOV && in.lock == 0, "op %u lock %u, want MOV, 0", in.op, in.lock);
    EXPECT(dm_x86_writes_mem(&in) == (w->kind == DM_X86_STORE || w->kind == DM_X86_STORE_IMM),
           "writes_mem %d", dm_x86_writes_mem(&in));
    if (w->kind == DM_X86_STORE_IMM) {
        EXPECT(in.imm == w->imm, "imm %#" PRIx64 ", want %#" PRIx64, in.imm, w->imm);
    }
    /* nothing past the instruction is read; one byte fewer is not enough */
    EXPECT(dm_x86_decode(w->b, n - 1, &tmp) != 0, "decoded with %zu of %zu bytes", n - 1, n);
    if (fails != before) {
        dump(name, w->b, n);
    }
}

static void check_rip(const want_rip_t *w)
{
    const char *name = w->name;
    size_t n = (size_t)(w->e - w->b);
    uint64_t gpr[16];
    dm_x86_insn_t in;
    unsigned i;

    for (i = 0; i < 16; i++) {
        gpr[i] = 0x1000u * (i + 1); /* must not matter */
    }
    if (dm_x86_decode(w->b, n, &in) != 0) {
        EXPECT(0, "refused");
        dump(name, w->b, n);
        return;
    }
    EXPECT(in.base == DM_X86_RIP && in.index == NO, "base %d index %d, want RIP, none", in.base,
           in.index);
    EXPECT(in.kind == w->kind && in.msize == w->msize, "kind %u msize %u, want %d %d", in.kind,
           in.msize, w->kind, w->msize);
    EXPECT(dm_x86_ea(&in, gpr, (uint64_t)(uintptr_t)w->b) ==
               (uint64_t)(uintptr_t)tx86_target + w->off,
           "address %#" PRIx64 ", want %p + %" PRIu64,
           dm_x86_ea(&in, gpr, (uint64_t)(uintptr_t)w->b), (const void *)tx86_target, w->off);
    if (w->kind == DM_X86_STORE_IMM || w->kind == DM_X86_ALU_MI) {
        EXPECT(in.imm == w->imm, "imm %#" PRIx64 ", want %#" PRIx64, in.imm, w->imm);
    }
}

static void check_alu(const want_alu_t *w)
{
    const char *name = w->name;
    size_t n = (size_t)(w->e - w->b);
    int reg_form = w->kind == DM_X86_ALU_MR || w->kind == DM_X86_ALU_RM;
    dm_x86_insn_t in, tmp;
    int before = fails;

    memset(&in, 0xa5, sizeof(in));
    if (dm_x86_decode(w->b, n, &in) != 0) {
        EXPECT(0, "refused");
        dump(name, w->b, n);
        return;
    }
    EXPECT(in.len == n, "len %u, want %zu", in.len, n);
    EXPECT(in.kind == w->kind, "kind %u, want %d", in.kind, w->kind);
    EXPECT(in.op == w->op, "op %u, want %d", in.op, w->op);
    EXPECT(in.lock == w->lock, "lock %u, want %d", in.lock, w->lock);
    EXPECT(in.msize == w->msize, "msize %u, want %d", in.msize, w->msize);
    EXPECT(in.rsize == (reg_form ? w->msize : 0), "rsize %u", in.rsize);
    if (reg_form) {
        EXPECT(in.rclass == w->rclass, "rclass %u, want %d", in.rclass, w->rclass);
        EXPECT(in.reg == w->reg, "reg %u, want %d", in.reg, w->reg);
    }
    EXPECT(in.base == w->base, "base %d, want %d", in.base, w->base);
    EXPECT(in.index == w->index, "index %d, want %d", in.index, w->index);
    if (w->index != NO) {
        EXPECT(in.scale == w->scale, "scale %u, want %d", in.scale, w->scale);
    }
    EXPECT(in.disp == w->disp, "disp %" PRId64 ", want %" PRId64, in.disp, w->disp);
    EXPECT(in.align == 1, "align %u, want 1", in.align);
    if (w->kind == DM_X86_ALU_MI) {
        EXPECT(in.imm == w->imm, "imm %#" PRIx64 ", want %#" PRIx64, in.imm, w->imm);
    }
    EXPECT(dm_x86_writes_mem(&in) ==
               (w->kind != DM_X86_ALU_RM && w->op != DM_X86_CMP && w->op != DM_X86_TEST),
           "writes_mem %d", dm_x86_writes_mem(&in));
    EXPECT(dm_x86_decode(w->b, n - 1, &tmp) != 0, "decoded with %zu of %zu bytes", n - 1, n);
    if (fails != before) {
        dump(name, w->b, n);
    }
}

static void check_ea(void)
{
    const char *name = "effective address";
    uint64_t gpr[16];
    dm_x86_insn_t in;
    unsigned i;

    for (i = 0; i < 16; i++) {
        gpr[i] = UINT64_C(0x100000) * (i + 1);
    }
    /* movl %eax, 8(%rdi,%rcx,4) */
    (void)dm_x86_decode(tx86_st32_sib, (size_t)(tx86_st32_sib_end - tx86_st32_sib), &in);
    EXPECT(dm_x86_ea(&in, gpr, 0) == gpr[RDI] + 4 * gpr[RCX] + 8, "base + index * 4 + 8");
    /* movq %r8, 0x12345678(,%r14,8) */
    (void)dm_x86_decode(tx86_st64_nobase, (size_t)(tx86_st64_nobase_end - tx86_st64_nobase), &in);
    EXPECT(dm_x86_ea(&in, gpr, 0) == 8 * gpr[R14] + 0x12345678, "index * 8 + disp");
    /* movq %rbp, -8(%rsp): a negative displacement wraps */
    (void)dm_x86_decode(tx86_st64_rsp, (size_t)(tx86_st64_rsp_end - tx86_st64_rsp), &in);
    EXPECT(dm_x86_ea(&in, gpr, 0) == gpr[RSP] - 8, "rsp - 8");
    /* movabs: the 64-bit absolute address */
    (void)dm_x86_decode(tx86_moffs_ld64, (size_t)(tx86_moffs_ld64_end - tx86_moffs_ld64), &in);
    EXPECT(dm_x86_ea(&in, gpr, 0) == UINT64_C(0x1122334455667788), "moffs");
}

static void check_load_result(void)
{
    const char *name = "load result";
    const uint64_t old = UINT64_C(0x1122334455667788);
    dm_x86_insn_t in;

    memset(&in, 0, sizeof(in));
    in.rclass = DM_X86_GPR;
    in.kind = DM_X86_LOAD;
    in.msize = in.rsize = 8;
    EXPECT(dm_x86_load_result(&in, old, UINT64_C(0xdeadbeefcafef00d)) ==
           UINT64_C(0xdeadbeefcafef00d), "64-bit load");
    in.msize = in.rsize = 4;
    EXPECT(dm_x86_load_result(&in, old, UINT64_C(0xffffffff80000001)) == 0x80000001u,
           "32-bit load zero-extends");
    in.msize = in.rsize = 2;
    EXPECT(dm_x86_load_result(&in, old, 0xabcdef) == UINT64_C(0x112233445566cdef),
           "16-bit load merges");
    in.msize = in.rsize = 1;
    EXPECT(dm_x86_load_result(&in, old, 0xabcd) == UINT64_C(0x11223344556677cd),
           "8-bit load merges");
    in.rclass = DM_X86_HIGH8;
    EXPECT(dm_x86_load_result(&in, old, 0xabcd) == UINT64_C(0x112233445566cd88),
           "high-byte load merges into bits 8..15");
    in.rclass = DM_X86_GPR;
    in.kind = DM_X86_LOAD_ZX;
    in.msize = 1;
    in.rsize = 2;
    EXPECT(dm_x86_load_result(&in, old, 0xf0) == UINT64_C(0x11223344556600f0), "movzbw");
    in.rsize = 4;
    EXPECT(dm_x86_load_result(&in, old, 0xf0) == 0xf0, "movzbl");
    in.rsize = 8;
    EXPECT(dm_x86_load_result(&in, old, 0xf0) == 0xf0, "movzbq");
    in.kind = DM_X86_LOAD_SX;
    in.rsize = 2;
    EXPECT(dm_x86_load_result(&in, old, 0xf0) == UINT64_C(0x112233445566fff0), "movsbw");
    in.rsize = 4;
    EXPECT(dm_x86_load_result(&in, old, 0xf0) == 0xfffffff0u, "movsbl");
    in.rsize = 8;
    EXPECT(dm_x86_load_result(&in, old, 0xf0) == UINT64_C(0xfffffffffffffff0), "movsbq");
    EXPECT(dm_x86_load_result(&in, old, 0x70) == 0x70, "movsbq of a positive byte");
    in.msize = 2;
    in.rsize = 4;
    EXPECT(dm_x86_load_result(&in, old, 0x8000) == 0xffff8000u, "movswl");
    in.msize = 4;
    in.rsize = 8;
    EXPECT(dm_x86_load_result(&in, old, 0x80000000u) == UINT64_C(0xffffffff80000000),
           "movslq");
}

/* Decodes the instruction between b and e and runs it on mem. */
static int run_insn(const uint8_t *b, const uint8_t *e, void *mem, uint64_t gpr[16],
                    uint64_t *fl)
{
    dm_x86_insn_t in;

    if (dm_x86_decode(b, (size_t)(e - b), &in) != 0) {
        return -1;
    }
    return dm_x86_alu_run(&in, mem, gpr, fl);
}

#define RUN(id, mem, gpr, fl) run_insn(tx86_##id, tx86_##id##_end, mem, gpr, fl)

#define CF 0x1u
#define PF 0x4u
#define AF 0x10u
#define ZF 0x40u
#define SF 0x80u
#define OF 0x800u
#define TF 0x100u
#define AC 0x40000u
#define BASE_FLAGS 0x202u /* IF and the always-one bit */

/*
 * dm_x86_alu_run on worked examples (the emulation against the processor
 * on faulting pages is emu_check's): results, partial-register writes,
 * flags in (CF for ADC/SBB/INC) and out. AF is left out where the
 * operation leaves it undefined (AND, OR, XOR, TEST).
 */
static void check_alu_run(void)
{
    const char *name = "alu_run";
    dm_x86_insn_t in;
    uint64_t gpr[16], m, fl;
    unsigned i;

    for (i = 0; i < 16; i++) {
        gpr[i] = UINT64_C(0x0101010101010101) * i;
    }
    /* x86_emu.h's example: addb $1 on 0xff */
    memset(&in, 0, sizeof(in));
    in.kind = DM_X86_ALU_MI;
    in.op = DM_X86_ADD;
    in.msize = 1;
    in.imm = 1;
    m = 0xff;
    fl = BASE_FLAGS;
    EXPECT(dm_x86_alu_run(&in, &m, gpr, &fl) == 0 && m == 0 && fl == 0x257,
           "addb $1 on 0xff: %#" PRIx64 " flags %#" PRIx64, m, fl);
    /* TF and AC are never loaded (TF would trap this process), and are kept */
    m = 0x7f;
    fl = BASE_FLAGS | TF | AC;
    EXPECT(dm_x86_alu_run(&in, &m, gpr, &fl) == 0 && m == 0x80 &&
               fl == (BASE_FLAGS | TF | AC | AF | SF | OF),
           "addb $1 on 0x7f with TF, AC: %#" PRIx64 " flags %#" PRIx64, m, fl);
    /* adcl $0x12345678 with CF: carry out, bits 32..63 of memory untouched */
    m = UINT64_C(0xaaaaaaaaedcba987);
    fl = BASE_FLAGS | CF;
    EXPECT(RUN(adc_i32, &m, gpr, &fl) == 0 && m == UINT64_C(0xaaaaaaaa00000000) &&
               fl == (BASE_FLAGS | CF | PF | AF | ZF),
           "adcl: %#" PRIx64 " flags %#" PRIx64, m, fl);
    /* sbbw (mem), %r8w with CF: borrows, merges into bits 0..15 */
    m = 0;
    gpr[R8] = UINT64_C(0x1111222233330000);
    fl = BASE_FLAGS | CF;
    EXPECT(RUN(sbb_rm16, &m, gpr, &fl) == 0 && gpr[R8] == UINT64_C(0x111122223333ffff) &&
               fl == (BASE_FLAGS | CF | PF | AF | SF),
           "sbbw: r8 %#" PRIx64 " flags %#" PRIx64, gpr[R8], fl);
    /* orl 4(mem), %eax: a 32-bit write clears bits 32..63 */
    m = 0x80000000u;
    gpr[RAX] = UINT64_C(0xffffffff00000001);
    fl = BASE_FLAGS | CF | OF | ZF;
    EXPECT(RUN(or_rm32, &m, gpr, &fl) == 0 && gpr[RAX] == 0x80000001u &&
               (fl & ~(uint64_t)AF) == (BASE_FLAGS | SF),
           "orl: rax %#" PRIx64 " flags %#" PRIx64, gpr[RAX], fl);
    /* cmpq (mem), %rax: rax - mem, no register written */
    m = 2;
    gpr[RAX] = 1;
    fl = BASE_FLAGS;
    EXPECT(RUN(cmp_rm64, &m, gpr, &fl) == 0 && gpr[RAX] == 1 && m == 2 &&
               fl == (BASE_FLAGS | CF | PF | AF | SF),
           "cmpq: rax %#" PRIx64 " flags %#" PRIx64, gpr[RAX], fl);
    /* addb (mem), %bh: bits 8..15 of rbx, signed overflow */
    m = 0x10;
    gpr[RBX] = UINT64_C(0x1122334455667788);
    fl = BASE_FLAGS;
    EXPECT(RUN(add_rm8_bh, &m, gpr, &fl) == 0 && gpr[RBX] == UINT64_C(0x1122334455668788) &&
               fl == (BASE_FLAGS | PF | SF | OF),
           "addb %%bh: rbx %#" PRIx64 " flags %#" PRIx64, gpr[RBX], fl);
    /* xchgl %eax, (mem): both written, eax zero-extended, flags kept */
    m = UINT64_C(0x55555555aabbccdd);
    gpr[RAX] = UINT64_C(0xffffffff12345678);
    fl = BASE_FLAGS | CF | ZF;
    EXPECT(RUN(xchg32, &m, gpr, &fl) == 0 && gpr[RAX] == 0xaabbccddu &&
               m == UINT64_C(0x5555555512345678) && fl == (BASE_FLAGS | CF | ZF),
           "xchgl: rax %#" PRIx64 " mem %#" PRIx64 " flags %#" PRIx64, gpr[RAX], m, fl);
    /* xchgb %ch, (mem): bits 8..15 of rcx */
    m = 0x33;
    gpr[RCX] = 0x1122;
    EXPECT(RUN(xchg8_ch, &m, gpr, &fl) == 0 && gpr[RCX] == 0x3322 && m == 0x11,
           "xchgb %%ch: rcx %#" PRIx64 " mem %#" PRIx64, gpr[RCX], m);
    /* lock cmpxchgl %ecx, (mem): fails (eax = mem), then succeeds (mem = ecx) */
    m = 7;
    gpr[RAX] = UINT64_C(0xffffffff00000005);
    gpr[RCX] = 9;
    fl = BASE_FLAGS | ZF;
    EXPECT(RUN(lock_cmpxchg32, &m, gpr, &fl) == 0 && gpr[RAX] == 7 && m == 7 && !(fl & ZF),
           "cmpxchg failing: rax %#" PRIx64 " mem %#" PRIx64 " flags %#" PRIx64, gpr[RAX], m,
           fl);
    EXPECT(RUN(lock_cmpxchg32, &m, gpr, &fl) == 0 && gpr[RAX] == 7 && m == 9 && (fl & ZF),
           "cmpxchg succeeding: rax %#" PRIx64 " mem %#" PRIx64 " flags %#" PRIx64, gpr[RAX],
           m, fl);
    /* lock xaddl %ecx, (mem): wraps at 32 bits, ecx = the old value */
    m = 0xfffffffeu;
    gpr[RCX] = UINT64_C(0xffffffff00000003);
    fl = BASE_FLAGS;
    EXPECT(RUN(lock_xadd32, &m, gpr, &fl) == 0 && m == 1 && gpr[RCX] == 0xfffffffeu &&
               (fl & CF),
           "xadd: rcx %#" PRIx64 " mem %#" PRIx64 " flags %#" PRIx64, gpr[RCX], m, fl);
    /* lock incq: CF kept */
    m = UINT64_MAX;
    fl = BASE_FLAGS | CF;
    EXPECT(RUN(lock_inc, &m, gpr, &fl) == 0 && m == 0 && fl == (BASE_FLAGS | CF | PF | AF | ZF),
           "incq: mem %#" PRIx64 " flags %#" PRIx64, m, fl);
    /* notq: no flag changes */
    m = 0x0f;
    fl = BASE_FLAGS | CF | PF | AF | ZF | SF | OF;
    EXPECT(RUN(not64, &m, gpr, &fl) == 0 && m == ~(uint64_t)0x0f &&
               fl == (BASE_FLAGS | CF | PF | AF | ZF | SF | OF),
           "notq: mem %#" PRIx64 " flags %#" PRIx64, m, fl);
    /* negl 0: CF cleared */
    m = 0;
    fl = BASE_FLAGS | CF;
    EXPECT(RUN(neg32, &m, gpr, &fl) == 0 && m == 0 && fl == (BASE_FLAGS | PF | ZF),
           "negl 0: flags %#" PRIx64, fl);
    /* lock sbbb %al, (mem): 0x80 - 1 overflows */
    m = 0x80;
    gpr[RAX] = 0xab01;
    fl = BASE_FLAGS;
    EXPECT(RUN(lock_sbb8, &m, gpr, &fl) == 0 && m == 0x7f && gpr[RAX] == 0xab01 &&
               fl == (BASE_FLAGS | AF | OF),
           "sbbb: mem %#" PRIx64 " flags %#" PRIx64, m, fl);
    /* testq $-16, (mem): flags only */
    m = 0x0f;
    fl = BASE_FLAGS | CF | OF;
    EXPECT(RUN(test_i64, &m, gpr, &fl) == 0 && m == 0x0f &&
               (fl & ~(uint64_t)AF) == (BASE_FLAGS | PF | ZF),
           "testq: flags %#" PRIx64, fl);
    /* not an ALU kind: refused, nothing touched */
    in.kind = DM_X86_LOAD;
    m = 5;
    fl = BASE_FLAGS;
    gpr[RAX] = 1;
    EXPECT(dm_x86_alu_run(&in, &m, gpr, &fl) == -1 && m == 5 && fl == BASE_FLAGS &&
               gpr[RAX] == 1, "a load must be refused");
}

int main(void)
{
    size_t i;
    dm_x86_insn_t in;

    for (i = 0; i < sizeof(handled) / sizeof(handled[0]); i++) {
        check_handled(&handled[i]);
    }
    report("ok: %zu handled forms decode as written\n", sizeof(handled) / sizeof(handled[0]));
    for (i = 0; i < sizeof(alu) / sizeof(alu[0]); i++) {
        check_alu(&alu[i]);
    }
    report("ok: %zu ALU and read-modify-write forms decode as written\n",
           sizeof(alu) / sizeof(alu[0]));
    for (i = 0; i < sizeof(riprel) / sizeof(riprel[0]); i++) {
        check_rip(&riprel[i]);
    }
    report("ok: %zu RIP-relative operands resolve to their label\n",
           sizeof(riprel) / sizeof(riprel[0]));
    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        const char *name = refused[i].name;
        size_t n = (size_t)(refused[i].e - refused[i].b);

        EXPECT(dm_x86_decode(refused[i].b, n, &in) != 0, "decoded, must be refused");
        if (dm_x86_decode(refused[i].b, n, &in) == 0) {
            dump(name, refused[i].b, n);
        }
    }
    report("ok: %zu unhandled forms refused\n", sizeof(refused) / sizeof(refused[0]));
    for (i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++) {
        const bytes_t *b = &bytes[i];
        const char *name = b->name;
        int r = dm_x86_decode(b->b, b->n, &in);

        if (!b->handled) {
            EXPECT(r != 0, "decoded, must be refused");
            continue;
        }
        EXPECT(r == 0, "refused");
        if (r == 0) {
            EXPECT(in.len == b->n && in.kind == b->kind && in.msize == b->msize &&
                       in.rsize == b->rsize && (b->kind == DM_X86_STORE_IMM || in.reg == b->reg),
                   "len %u kind %u msize %u rsize %u reg %u", in.len, in.kind, in.msize,
                   in.rsize, in.reg);
        }
    }
    /* 66 REX.W C7 07 imm32 -1: sign-extended to 64 bits */
    {
        const char *name = "66_rexw_imm value";

        EXPECT(dm_x86_decode(bytes[4].b, bytes[4].n, &in) == 0 && in.imm == UINT64_MAX,
               "imm %#" PRIx64, in.imm);
    }
    for (i = 0; i < sizeof(bytes) / sizeof(bytes[0]); i++) {
        const char *name = bytes[i].name;

        if (!strcmp(name, "66_rexw_81")) {
            EXPECT(dm_x86_decode(bytes[i].b, bytes[i].n, &in) == 0 &&
                       in.imm == UINT64_C(0xffffffff80000000),
                   "imm %#" PRIx64, in.imm);
        } else if (!strcmp(name, "lock_66_add")) {
            EXPECT(dm_x86_decode(bytes[i].b, bytes[i].n, &in) == 0 && in.imm == 0xffff &&
                       in.lock == 1,
                   "imm %#" PRIx64 " lock %u", in.imm, in.lock);
        }
    }
    report("ok: %zu hand-written encodings\n", sizeof(bytes) / sizeof(bytes[0]));
    check_ea();
    check_load_result();
    report("ok: effective addresses and register-write rules\n");
    check_alu_run();
    report("ok: ALU forms run natively on ordinary memory as worked out by hand\n");
    if (fails) {
        fprintf(stderr, "%d checks failed\n", fails);
        return 1;
    }
    return 0;
}

#else

int main(void)
{
    printf("skipped: not x86-64\n");
    return 77;
}

#endif
