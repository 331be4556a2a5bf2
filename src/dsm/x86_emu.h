/*
 * Runs a decoded ALU or read-modify-write instruction (the ALU kinds of
 * x86_insn.h) on its memory operand with the processor's own instruction:
 * the same operation, width and LOCK prefix on the same address, with the
 * interrupted context's registers and arithmetic flags loaded first and
 * the results read back. So the memory, the registers (partial-register
 * rules included: an 8- or 16-bit write merges, a 32-bit write clears bits
 * 32..63, CMPXCHG writes rAX only when the comparison fails) and the flags
 * (those an operation leaves undefined included) are exactly what the
 * processor gives, and the access is exactly as atomic as the original:
 * XCHG and LOCK forms stay locked, a plain RMW stays a plain one.
 *
 * Unlike the decoder this touches memory, so it lives apart from it; it
 * never allocates and calls nothing (async-signal-safe: the SIGBUS
 * handler runs it). x86-64 only.
 */
#ifndef DM_DSM_X86_EMU_H
#define DM_DSM_X86_EMU_H

#include <stdint.h>

#include "x86_insn.h"

/* The arithmetic flags of EFLAGS: CF, PF, AF, ZF, SF, OF. */
#define DM_X86_EFLAGS_ARITH UINT64_C(0x8d5)

#if defined(__x86_64__)
/*
 * Performs insn on the msize bytes at mem. gpr: RAX..R15 in encoding order
 * as the instruction sees them, updated with what it writes; *eflags_p:
 * EFLAGS as it sees them, of which only the arithmetic flags are read (ADC,
 * SBB, and the flags INC/DEC/NOT leave alone) and written, the other bits
 * kept (no trap or alignment-check flag ever reaches the processor).
 * Returns 0, or -1 (nothing touched) when insn is not an ALU kind this
 * runs. pre: mem readable, and writable when dm_x86_writes_mem(insn).
 * Runs on the stack below a 128-byte red zone it leaves alone.
 *
 * Example: { ALU_MI, op ADD, msize 1, imm 1 } on a byte 0xff with flags
 * 0x202 leaves the byte 0 and flags 0x257 (CF PF AF ZF set).
 */
int dm_x86_alu_run(const dm_x86_insn_t *insn, void *mem, uint64_t gpr[16], uint64_t *eflags_p);
#endif

#endif
