/*
 * An x86-64 decoder for the instructions the fault path emulates: a pure
 * function from instruction bytes to a description (no I/O, no
 * allocation, no global state), and the pure helpers emulation needs
 * (the effective address, the value a load leaves in a general register,
 * whether the memory operand is written). The SIGBUS handler (dsm.c) runs
 * a faulting access this way while it still holds the page, instead of
 * returning and single-stepping the retried instruction (the ALU forms
 * through x86_emu.h); tests/dsm/test_x86_insn.c checks every form.
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
 * ALU and read-modify-write, every size (8; 16 with 66, 32, 64 with REX.W):
 *   00/01 08/09 10/11 18/19 20/21 28/29 30/31 38/39 /r   ADD OR ADC SBB AND SUB XOR CMP m, r
 *   02/03 0A/0B 12/13 1A/1B 22/23 2A/2B 32/33 3A/3B /r   the same, r, m (register destination)
 *   80 /n ib, 81 /n iz, 83 /n ib                         the same, m, imm (83: imm8 sign-extended)
 *   84/85 /r, F6 /0 ib, F7 /0 iz                         TEST m, r / m, imm
 *   FE/FF /0, /1                                         INC, DEC m
 *   F6/F7 /2, /3                                         NOT, NEG m
 *   86/87 /r                                             XCHG m, r (locked by the processor)
 *   0F C0/C1 /r, 0F B0/B1 /r                             XADD m, r; CMPXCHG m, r (rAX implicit)
 * Prefixes: 66, F2/F3 (SSE only), LOCK (only on the forms that write
 * memory with an ALU operation: not on MOV, CMP, TEST or a register
 * destination, where the processor raises #UD), REX (must come last, as
 * the processor requires for it to count). Refused: segment overrides
 * (FS/GS bases are not in the register file emulation sees), 67 (32-bit
 * addresses), F2/F3 outside SSE (XACQUIRE/XRELEASE), VEX/EVEX,
 * register-only forms, string operations, shifts, rotates, MUL/DIV, bit
 * tests, CMOV, and everything not listed.
 *
 * Example: 48 89 44 8f 08 (mov %rax, 8(%rdi,%rcx,4)) decodes as
 * { len 5, STORE, msize 8, rsize 8, GPR reg 0 (RAX), base 7 (RDI),
 * index 1 (RCX), scale 4, disp 8 }; and 48 83 00 01 (addq $1, (%rax))
 * as { len 4, ALU_MI, op ADD, msize 8, base 0 (RAX), imm 1 }.
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
    /* the ALU kinds, last (kind >= ALU_MR); op says which; rsize: msize for MR and RM, else 0 */
    DM_X86_ALU_MR,    /* memory = memory op register; XCHG, XADD, CMPXCHG; CMP, TEST: flags only */
    DM_X86_ALU_MI,    /* memory = memory op imm; CMP, TEST: flags only */
    DM_X86_ALU_M,     /* memory = op memory: INC, DEC, NOT, NEG */
    DM_X86_ALU_RM,    /* register = register op memory; CMP: flags only (memory only read) */
} dm_x86_kind_t;

/* The operation of an ALU kind; ADD..CMP in the order of their /n encoding. */
typedef enum dm_x86_op {
    DM_X86_MOV,  /* the move kinds (LOAD..STORE_IMM) */
    DM_X86_ADD,
    DM_X86_OR,
    DM_X86_ADC,
    DM_X86_SBB,
    DM_X86_AND,
    DM_X86_SUB,
    DM_X86_XOR,
    DM_X86_CMP,
    DM_X86_TEST,
    DM_X86_INC,
    DM_X86_DEC,
    DM_X86_NOT,
    DM_X86_NEG,
    DM_X86_XCHG,    /* memory <-> register */
    DM_X86_XADD,    /* register = memory, memory = memory + register */
    DM_X86_CMPXCHG, /* if rAX == memory: memory = register, else rAX = memory */
} dm_x86_op_t;

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
    uint8_t  op;     /* dm_x86_op_t: DM_X86_MOV for the move kinds */
    uint8_t  lock;   /* 1: LOCK prefix (XCHG is locked without it: 0) */
    uint8_t  msize;  /* bytes accessed in memory: 1, 2, 4, 8 or 16 */
    uint8_t  rsize;  /* bytes of the register operand; 0: none (STORE_IMM, ALU_MI, ALU_M) */
    uint8_t  rclass; /* dm_x86_rclass_t of reg */
    uint8_t  reg;    /* the register operand (see dm_x86_rclass_t) */
    uint8_t  align;  /* the processor faults (#GP) unless the address is aligned to this; 1: none */
    int8_t   base;   /* 0..15, DM_X86_RIP or DM_X86_NOREG */
    int8_t   index;  /* 0..15 or DM_X86_NOREG */
    uint8_t  scale;  /* 1, 2, 4 or 8 */
    int64_t  disp;
    uint64_t imm;    /* STORE_IMM, ALU_MI: msize bytes (sign-extended as the encoding says) */
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

/*
 * Whether insn writes its memory operand (the stores, and the ALU kinds
 * but CMP, TEST and ALU_RM): the access the fault must report, and the
 * mapping emulation needs. CMPXCHG writes even when the comparison fails.
 */
int dm_x86_writes_mem(const dm_x86_insn_t *insn);

#endif
