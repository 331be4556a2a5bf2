/*
 * The native runner of x86_emu.h: one inline-assembly statement per
 * (operation, direction, LOCK, width), selected by a switch, each of the
 * shape
 *
 *     lea -128(%rsp), %rsp   skip the red zone: the compiler may keep data there
 *     push flags; popf       the context's arithmetic flags (ADC/SBB read CF)
 *     <the instruction>      on (mem) and a register holding the full 64-bit value
 *     pushf; pop flags
 *     lea 128(%rsp), %rsp
 *
 * The register operand is given its whole 64-bit value and the operation
 * names its 8-, 16-, 32- or 64-bit part, so the processor itself applies
 * the partial-register rules. AH..BH are run as the low byte of the value
 * shifted right by 8 and merged back: the operation and its flags only see
 * the byte. Only the arithmetic flags are loaded: TF would single-step the
 * handler, AC could fault it, DF and the rest are the handler's (the ABI's).
 */
#include "x86_emu.h"

#if defined(__x86_64__)

#define DM_X86_FIN  "lea -128(%%rsp), %%rsp\n\tpushq %[fl]\n\tpopfq\n\t"
#define DM_X86_FOUT "\n\tpushfq\n\tpopq %[fl]\n\tlea 128(%%rsp), %%rsp"

/* The switch key: rm 1 for a register destination (ALU_RM), then op, LOCK, log2(width). */
#define DM_X86_KEY(rm, op, lock) (((((rm) * 32u) + (unsigned)(op)) * 2u + (lock)) * 4u)

/* op m, r (and op m, imm through a register): mem = mem op s; XCHG, XADD also write s */
#define DM_X86_MR1(key, pfx, mn, sfx, mod)                                                     \
    case (key):                                                                                \
        __asm__ volatile(DM_X86_FIN pfx mn sfx " %" mod "[s], (%[p])" DM_X86_FOUT              \
                         : [fl] "+r"(fl), [s] "+r"(s) : [p] "r"(mem) : "memory", "cc");      \
        break;
/* op r, m: s = s op mem */
#define DM_X86_RM1(key, pfx, mn, sfx, mod)                                                     \
    case (key):                                                                                \
        __asm__ volatile(DM_X86_FIN pfx mn sfx " (%[p]), %" mod "[s]" DM_X86_FOUT              \
                         : [fl] "+r"(fl), [s] "+r"(s) : [p] "r"(mem) : "memory", "cc");      \
        break;
/* op m: mem = op mem */
#define DM_X86_M1(key, pfx, mn, sfx, mod)                                                      \
    case (key):                                                                                \
        __asm__ volatile(DM_X86_FIN pfx mn sfx " (%[p])" DM_X86_FOUT                           \
                         : [fl] "+r"(fl) : [p] "r"(mem) : "memory", "cc");                    \
        break;
/* cmpxchg m, r: the accumulator in rAX */
#define DM_X86_CX1(key, pfx, mn, sfx, mod)                                                     \
    case (key):                                                                                \
        __asm__ volatile(DM_X86_FIN pfx mn sfx " %" mod "[s], (%[p])" DM_X86_FOUT              \
                         : [fl] "+r"(fl), [a] "+a"(a) : [s] "r"(s), [p] "r"(mem)             \
                         : "memory", "cc");                                                   \
        break;

/* The four widths of one form. */
#define DM_X86_WIDTHS(F, key, pfx, mn)                                                         \
    F((key) + 0, pfx, mn, "b", "b") F((key) + 1, pfx, mn, "w", "w")                            \
    F((key) + 2, pfx, mn, "l", "k") F((key) + 3, pfx, mn, "q", "q")
/* ... without and with LOCK */
#define DM_X86_LOCKS(F, op, mn)                                                                \
    DM_X86_WIDTHS(F, DM_X86_KEY(0, op, 0), "", mn)                                             \
    DM_X86_WIDTHS(F, DM_X86_KEY(0, op, 1), "lock ", mn)

int dm_x86_alu_run(const dm_x86_insn_t *in, void *mem, uint64_t gpr[16], uint64_t *eflags_p)
{
    uint64_t fl = (*eflags_p & DM_X86_EFLAGS_ARITH) | 2u; /* bit 1 reads as 1 */
    uint64_t s = 0, a = gpr[0];
    unsigned high8 = in->rclass == DM_X86_HIGH8, rm = in->kind == DM_X86_ALU_RM, w;

    switch (in->msize) {
    case 1: w = 0; break;
    case 2: w = 1; break;
    case 4: w = 2; break;
    case 8: w = 3; break;
    default: return -1;
    }
    switch (in->kind) {
    case DM_X86_ALU_MR: case DM_X86_ALU_RM:
        s = gpr[in->reg & 15] >> (high8 ? 8 : 0);
        break;
    case DM_X86_ALU_MI:
        s = in->imm;
        break;
    case DM_X86_ALU_M:
        break;
    default:
        return -1;
    }
    switch (DM_X86_KEY(rm, in->op, in->lock != 0) + w) {
    DM_X86_LOCKS(DM_X86_MR1, DM_X86_ADD, "add")
    DM_X86_LOCKS(DM_X86_MR1, DM_X86_OR, "or")
    DM_X86_LOCKS(DM_X86_MR1, DM_X86_ADC, "adc")
    DM_X86_LOCKS(DM_X86_MR1, DM_X86_SBB, "sbb")
    DM_X86_LOCKS(DM_X86_MR1, DM_X86_AND, "and")
    DM_X86_LOCKS(DM_X86_MR1, DM_X86_SUB, "sub")
    DM_X86_LOCKS(DM_X86_MR1, DM_X86_XOR, "xor")
    DM_X86_LOCKS(DM_X86_MR1, DM_X86_XCHG, "xchg")
    DM_X86_LOCKS(DM_X86_MR1, DM_X86_XADD, "xadd")
    DM_X86_WIDTHS(DM_X86_MR1, DM_X86_KEY(0, DM_X86_CMP, 0), "", "cmp")
    DM_X86_WIDTHS(DM_X86_MR1, DM_X86_KEY(0, DM_X86_TEST, 0), "", "test")
    DM_X86_LOCKS(DM_X86_M1, DM_X86_INC, "inc")
    DM_X86_LOCKS(DM_X86_M1, DM_X86_DEC, "dec")
    DM_X86_LOCKS(DM_X86_M1, DM_X86_NOT, "not")
    DM_X86_LOCKS(DM_X86_M1, DM_X86_NEG, "neg")
    DM_X86_LOCKS(DM_X86_CX1, DM_X86_CMPXCHG, "cmpxchg")
    DM_X86_WIDTHS(DM_X86_RM1, DM_X86_KEY(1, DM_X86_ADD, 0), "", "add")
    DM_X86_WIDTHS(DM_X86_RM1, DM_X86_KEY(1, DM_X86_OR, 0), "", "or")
    DM_X86_WIDTHS(DM_X86_RM1, DM_X86_KEY(1, DM_X86_ADC, 0), "", "adc")
    DM_X86_WIDTHS(DM_X86_RM1, DM_X86_KEY(1, DM_X86_SBB, 0), "", "sbb")
    DM_X86_WIDTHS(DM_X86_RM1, DM_X86_KEY(1, DM_X86_AND, 0), "", "and")
    DM_X86_WIDTHS(DM_X86_RM1, DM_X86_KEY(1, DM_X86_SUB, 0), "", "sub")
    DM_X86_WIDTHS(DM_X86_RM1, DM_X86_KEY(1, DM_X86_XOR, 0), "", "xor")
    DM_X86_WIDTHS(DM_X86_RM1, DM_X86_KEY(1, DM_X86_CMP, 0), "", "cmp")
    default:
        return -1; /* not an ALU kind, or a combination the decoder never produces */
    }
    /* the register the instruction wrote, if any */
    if ((rm && in->op != DM_X86_CMP) ||
        (in->kind == DM_X86_ALU_MR && (in->op == DM_X86_XCHG || in->op == DM_X86_XADD))) {
        uint64_t *r = &gpr[in->reg & 15];

        *r = high8 ? (*r & ~UINT64_C(0xff00)) | ((s & 0xff) << 8) : s;
    }
    if (in->op == DM_X86_CMPXCHG) {
        gpr[0] = a;
    }
    *eflags_p = (*eflags_p & ~DM_X86_EFLAGS_ARITH) | (fl & DM_X86_EFLAGS_ARITH);
    return 0;
}

#else

typedef int dm_x86_emu_none_t; /* ISO C wants a declaration in every file */

#endif
