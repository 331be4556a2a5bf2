/*
 * An x86-64 decoder for the instructions the fault path emulates: a pure
 * function from instruction bytes to a description (no I/O, no
 * allocation, no global state), and the two pure helpers emulation needs
 * (the effective address, the value a load leaves in a general register).
 * The SIGBUS handler (dsm.c) runs a faulting access this way while it
 * still holds the page, instead of returning and single-stepping the
 * retried instruction; tests/dsm/test_x86_insn.c checks every form.
 *
 * Handled (64-bit mode; anything else is refused, and the fault path falls
 * back to the single-step pin):
 *   88 /r, 89 /r        MOV m, r          (8; 16 with 66, 32, 64 with REX.W)
 *   8A /r, 8B /r        MOV r, m
 *   C6 /0 ib, C7 /0 iz  MOV m, imm        (imm32 sign-extended for REX.W)
 *   A0..A3              MOV AL/rAX <-> moffs64
 *   0F B6, 0F B7 /r     MOVZX r, m8 / m16 (destination 16, 32 or 64 bits)
 *   0F BE, 0F BF /r     MOVSX r, m8 / m16
 *   REX.W 63 /r         MOVSXD r64, m32
 *   SSE, legacy encoding (no VEX), to and from XMM0..15:
 *   0F 10/11, 66 0F 10/11, 0F 28/29, 66 0F 28/29   movups/movupd/movaps/movapd
 *   F3 0F 6F/7F, 66 0F 6F/7F                        movdqu/movdqa
 *   F3 0F 10/11, F2 0F 10/11                        movss/movsd
 *   F3 0F 7E (load), 66 0F D6 (store)               movq xmm, m64 / m64, xmm
 *   66 0F 6E/7E (REX.W: 64 bits)                    movd/movq xmm <-> m32/m64
 * Prefixes: 66, F2/F3 (SSE only), REX (must come last, as the processor
 * requires for it to count). Refused: LOCK, segment overrides (FS/GS
 * bases are not in the register file emulation sees), 67 (32-bit
 * addresses), VEX/EVEX, register-only forms, string operations,
 * read-modify-write instructions, and everything not listed.
 *
 * Example: 48 89 44 8f 08 (mov %rax, 8(%rdi,%rcx,4)) decodes as
 * { len 5, STORE, msize 8, rsize 8, GPR reg 0 (RAX), base 7 (RDI),
 * index 1 (RCX), scale 4, disp 8 }.
 */
#ifndef DM_DSM_X86_INSN_H
#define DM_DSM_X86_INSN_H

#include <stddef.h>
#include <stdint.h>

#define DM_X86_MAX_LEN 15 /* the architectural limit */

typedef enum dm_x86_kind {
    DM_X86_LOAD,      /* register = memory (rsize == msize) */
    DM_X86_LOAD_ZX,   /* register = memory zero-extended to rsize */
    DM_X86_LOAD_SX,   /* register = memory sign-extended to rsize (general registers only) */
    DM_X86_STORE,     /* memory = the register's low msize bytes */
    DM_X86_STORE_IMM, /* memory = imm */
} dm_x86_kind_t;

typedef enum dm_x86_rclass {
    DM_X86_GPR,   /* reg 0..15: RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15 */
    DM_X86_HIGH8, /* reg 0..3: AH, CH, DH, BH (bits 8..15 of RAX..RBX; byte forms without REX) */
    DM_X86_XMM,   /* reg 0..15: XMM0..XMM15 */
} dm_x86_rclass_t;

#define DM_X86_NOREG (-1) /* base or index: none */
#define DM_X86_RIP   (-2) /* base: the address of the next instruction */

typedef struct dm_x86_insn {
    uint8_t  len;    /* bytes, prefixes included */
    uint8_t  kind;   /* dm_x86_kind_t */
    uint8_t  msize;  /* bytes accessed in memory: 1, 2, 4, 8 or 16 */
    uint8_t  rsize;  /* bytes of the register operand written (loads) or read; 0 for STORE_IMM */
    uint8_t  rclass; /* dm_x86_rclass_t of reg */
    uint8_t  reg;    /* the register operand (see dm_x86_rclass_t) */
    uint8_t  align;  /* the processor faults (#GP) unless the address is aligned to this; 1: none */
    int8_t   base;   /* 0..15, DM_X86_RIP or DM_X86_NOREG */
    int8_t   index;  /* 0..15 or DM_X86_NOREG */
    uint8_t  scale;  /* 1, 2, 4 or 8 */
    int64_t  disp;
    uint64_t imm;    /* STORE_IMM: the value stored, msize bytes (sign-extended as the encoding says) */
} dm_x86_insn_t;

/*
 * Decodes the instruction at code. Returns 0 and sets *insn_p when it is
 * one of the forms above, -1 otherwise (*insn_p untouched). Reads code[i]
 * only while i is below the length of the instruction as the processor
 * decodes it (and below avail), so the bytes after a real instruction
 * need not be readable: pass avail = DM_X86_MAX_LEN for code at a
 * faulting RIP.
 */
int dm_x86_decode(const uint8_t *code, size_t avail, dm_x86_insn_t *insn_p);

/*
 * The effective address of insn's memory operand: gpr holds RAX..R15 in
 * encoding order (0..15), rip the address of the instruction itself.
 */
uint64_t dm_x86_ea(const dm_x86_insn_t *insn, const uint64_t gpr[16], uint64_t rip);

/*
 * A load into a general register (LOAD, LOAD_ZX, LOAD_SX with rclass GPR
 * or HIGH8): the register's new 64-bit value, given its old one and the
 * msize bytes loaded (in the low bits of mem). Writes of 32 bits clear
 * bits 32..63; of 8 or 16 bits leave the other bits as they were.
 */
uint64_t dm_x86_load_result(const dm_x86_insn_t *insn, uint64_t old, uint64_t mem);

#endif
