/*
 * The x86-64 decoder of x86_insn.h. Bytes are consumed one at a time and
 * in order, and decoding stops as soon as the form is known to be
 * unhandled, so nothing past the instruction the processor would decode
 * is ever read (the contract of dm_x86_decode). A LOCK prefix is checked
 * once the form is known: it is legal only where the instruction writes
 * memory with an ALU operation.
 */
#include "x86_insn.h"

#include <string.h>

/* Instruction bytes being read: code[0, avail), next byte at pos. */
typedef struct dm_x86_cursor {
    const uint8_t *code;
    size_t         avail, pos;
} dm_x86_cursor_t;

static int dm_x86_byte(dm_x86_cursor_t *c, uint8_t *b_p)
{
    if (c->pos >= c->avail || c->pos >= DM_X86_MAX_LEN) {
        return -1;
    }
    *b_p = c->code[c->pos++];
    return 0;
}

/* Reads an n-byte little-endian immediate or displacement, sign-extended. */
static int dm_x86_signed(dm_x86_cursor_t *c, unsigned n, int64_t *v_p)
{
    uint64_t v = 0;
    unsigned i;
    uint8_t b;

    for (i = 0; i < n; i++) {
        if (dm_x86_byte(c, &b) != 0) {
            return -1;
        }
        v |= (uint64_t)b << (8 * i);
    }
    if (n < 8 && (v >> (8 * n - 1)) & 1) {
        v |= ~(uint64_t)0 << (8 * n); /* sign extension */
    }
    *v_p = (int64_t)v;
    return 0;
}

/*
 * ModRM (and SIB, displacement) of a memory operand: sets the register
 * field (*reg_p, REX.R applied) and in's base, index, scale and disp.
 * Refuses the register-only form (mod 3).
 */
static int dm_x86_modrm(dm_x86_cursor_t *c, unsigned rex, unsigned *reg_p, dm_x86_insn_t *in)
{
    uint8_t modrm, sib;
    unsigned mod, rm;
    int64_t disp = 0;

    if (dm_x86_byte(c, &modrm) != 0) {
        return -1;
    }
    mod = modrm >> 6;
    rm = modrm & 7;
    if (mod == 3) {
        return -1;
    }
    *reg_p = ((modrm >> 3) & 7) | ((rex & 4) << 1);
    in->index = DM_X86_NOREG;
    in->scale = 1;
    if (rm == 4) {
        unsigned idx, base;

        if (dm_x86_byte(c, &sib) != 0) {
            return -1;
        }
        in->scale = (uint8_t)(1u << (sib >> 6));
        idx = ((sib >> 3) & 7) | ((rex & 2) << 2);
        base = (sib & 7) | ((rex & 1) << 3);
        in->index = idx == 4 ? DM_X86_NOREG : (int8_t)idx; /* 4 without REX.X: no index */
        if ((sib & 7) == 5 && mod == 0) {
            in->base = DM_X86_NOREG; /* [index * scale + disp32] */
            mod = 2;
        } else {
            in->base = (int8_t)base;
        }
    } else if (rm == 5 && mod == 0) {
        in->base = DM_X86_RIP; /* [rip + disp32] */
        mod = 2;
    } else {
        in->base = (int8_t)(rm | ((rex & 1) << 3));
    }
    if (mod == 1 && dm_x86_signed(c, 1, &disp) != 0) {
        return -1;
    }
    if (mod == 2 && dm_x86_signed(c, 4, &disp) != 0) {
        return -1;
    }
    in->disp = disp;
    return 0;
}

/* The register operand of a byte form: without REX, 4..7 name AH, CH, DH, BH. */
static void dm_x86_set_reg8(dm_x86_insn_t *in, unsigned reg, unsigned rex_present)
{
    if (!rex_present && reg >= 4 && reg < 8) {
        in->rclass = DM_X86_HIGH8;
        in->reg = (uint8_t)(reg - 4);
    } else {
        in->rclass = DM_X86_GPR;
        in->reg = (uint8_t)reg;
    }
}

/* The register operand of a form of size bytes (1: a byte register, HIGH8 where legal). */
static void dm_x86_set_reg(dm_x86_insn_t *in, unsigned reg, unsigned size, unsigned rex_present)
{
    if (size == 1) {
        dm_x86_set_reg8(in, reg, rex_present);
    } else {
        in->rclass = DM_X86_GPR;
        in->reg = (uint8_t)reg;
    }
}

/* Reads an n-byte immediate into in->imm: sign-extended, then cut to msize bytes. */
static int dm_x86_imm(dm_x86_cursor_t *c, unsigned n, dm_x86_insn_t *in)
{
    int64_t v;

    if (dm_x86_signed(c, n, &v) != 0) {
        return -1;
    }
    in->imm = in->msize == 8 ? (uint64_t)v : (uint64_t)v & (~(uint64_t)0 >> (64 - 8 * in->msize));
    return 0;
}

/*
 * The one-byte ALU opcodes with a ModRM memory operand (ADD..CMP in both
 * directions, groups 1, 3, 4 and 5, TEST, XCHG). osz: the operand size of
 * the non-byte forms. Returns 0 with in set, -1 for any other form.
 */
static int dm_x86_alu(dm_x86_cursor_t *c, uint8_t b, unsigned rex, unsigned rex_present,
                      unsigned osz, dm_x86_insn_t *in)
{
    unsigned reg, n;

    if (b < 0x40 && (b & 7) < 4) {
        /* 00..3B: bit 1 the direction (register destination), bit 0 the size, bits 3..5 the op */
        if (dm_x86_modrm(c, rex, &reg, in) != 0) {
            return -1;
        }
        in->kind = (b & 2) ? DM_X86_ALU_RM : DM_X86_ALU_MR;
        in->op = (uint8_t)(DM_X86_ADD + (b >> 3));
        in->msize = in->rsize = (b & 1) ? (uint8_t)osz : 1;
        dm_x86_set_reg(in, reg, in->msize, rex_present);
        return 0;
    }
    switch (b) {
    case 0x80: case 0x81: case 0x83: /* group 1: op m, imm (82 is invalid in 64-bit mode) */
        if (dm_x86_modrm(c, rex, &reg, in) != 0) {
            return -1;
        }
        in->kind = DM_X86_ALU_MI;
        in->op = (uint8_t)(DM_X86_ADD + (reg & 7));
        in->msize = b == 0x80 ? 1 : (uint8_t)osz;
        n = b == 0x81 ? (osz == 2 ? 2 : 4) : 1;
        return dm_x86_imm(c, n, in);
    case 0x84: case 0x85: case 0x86: case 0x87: /* TEST m, r; XCHG m, r */
        if (dm_x86_modrm(c, rex, &reg, in) != 0) {
            return -1;
        }
        in->kind = DM_X86_ALU_MR;
        in->op = b < 0x86 ? DM_X86_TEST : DM_X86_XCHG;
        in->msize = in->rsize = (b & 1) ? (uint8_t)osz : 1;
        dm_x86_set_reg(in, reg, in->msize, rex_present);
        return 0;
    case 0xF6: case 0xF7: /* group 3: /0 TEST m, imm; /2 NOT; /3 NEG (/1 an undocumented TEST) */
        if (dm_x86_modrm(c, rex, &reg, in) != 0) {
            return -1;
        }
        in->msize = b == 0xF6 ? 1 : (uint8_t)osz;
        switch (reg & 7) {
        case 0:
            in->kind = DM_X86_ALU_MI;
            in->op = DM_X86_TEST;
            return dm_x86_imm(c, in->msize == 1 ? 1 : in->msize == 2 ? 2 : 4, in);
        case 2: case 3:
            in->kind = DM_X86_ALU_M;
            in->op = (reg & 7) == 2 ? DM_X86_NOT : DM_X86_NEG;
            return 0;
        default:
            return -1; /* MUL, IMUL, DIV, IDIV */
        }
    case 0xFE: case 0xFF: /* groups 4 and 5: /0 INC, /1 DEC (FF /2../6: CALL, JMP, PUSH) */
        if (dm_x86_modrm(c, rex, &reg, in) != 0 || (reg & 7) > 1) {
            return -1;
        }
        in->kind = DM_X86_ALU_M;
        in->op = (reg & 7) == 0 ? DM_X86_INC : DM_X86_DEC;
        in->msize = b == 0xFE ? 1 : (uint8_t)osz;
        return 0;
    default:
        return -1;
    }
}

/* The SSE moves (after 0F). pfx: 0 none, 0x66, 0xF3 or 0xF2 (the mandatory prefix). */
static int dm_x86_sse(dm_x86_cursor_t *c, uint8_t op, unsigned pfx, unsigned rex,
                      dm_x86_insn_t *in)
{
    unsigned reg, w = (rex & 8) != 0;
    int store;

    switch (op) {
    case 0x10: case 0x11: /* movups, movupd, movss, movsd */
        store = op == 0x11;
        in->msize = pfx == 0xF3 ? 4 : pfx == 0xF2 ? 8 : 16;
        break;
    case 0x28: case 0x29: /* movaps, movapd */
        if (pfx != 0 && pfx != 0x66) {
            return -1;
        }
        store = op == 0x29;
        in->msize = 16;
        in->align = 16;
        break;
    case 0x6F: case 0x7F: /* movdqu, movdqa */
        if (pfx != 0xF3 && pfx != 0x66) {
            return -1; /* no prefix: MMX movq */
        }
        store = op == 0x7F;
        in->msize = 16;
        in->align = pfx == 0x66 ? 16 : 1;
        break;
    case 0x6E: /* movd/movq xmm, m32/m64 */
        if (pfx != 0x66) {
            return -1;
        }
        store = 0;
        in->msize = w ? 8 : 4;
        break;
    case 0x7E: /* 66: movd/movq m32/m64, xmm; F3: movq xmm, m64 */
        if (pfx == 0x66) {
            store = 1;
            in->msize = w ? 8 : 4;
        } else if (pfx == 0xF3) {
            store = 0;
            in->msize = 8;
        } else {
            return -1;
        }
        break;
    case 0xD6: /* movq m64, xmm */
        if (pfx != 0x66) {
            return -1;
        }
        store = 1;
        in->msize = 8;
        break;
    default:
        return -1;
    }
    if (dm_x86_modrm(c, rex, &reg, in) != 0) {
        return -1;
    }
    in->rclass = DM_X86_XMM;
    in->reg = (uint8_t)reg;
    if (store) {
        in->kind = DM_X86_STORE;
        in->rsize = in->msize;
    } else {
        /* a load of less than 16 bytes clears the rest of the register (bits 128+ keep) */
        in->kind = in->msize == 16 ? DM_X86_LOAD : DM_X86_LOAD_ZX;
        in->rsize = 16;
    }
    return 0;
}

int dm_x86_decode(const uint8_t *code, size_t avail, dm_x86_insn_t *insn_p)
{
    dm_x86_cursor_t c = { .code = code, .avail = avail, .pos = 0 };
    dm_x86_insn_t in;
    unsigned rex = 0, rex_present = 0, opsize = 0, rep = 0, lock = 0, reg, osz;
    int64_t v;
    uint8_t b;

    memset(&in, 0, sizeof(in));
    in.align = 1;
    /* legacy prefixes, then at most one REX right before the opcode */
    for (;;) {
        if (dm_x86_byte(&c, &b) != 0) {
            return -1;
        }
        if (b == 0x66) {
            opsize = 1;
        } else if (b == 0xF0) {
            lock = 1;
        } else if (b == 0xF2 || b == 0xF3) {
            if (rep != 0 && rep != b) {
                return -1;
            }
            rep = b;
        } else if ((b & 0xF0) == 0x40) {
            rex = b & 0x0F;
            rex_present = 1;
            if (dm_x86_byte(&c, &b) != 0) {
                return -1;
            }
            break;
        } else {
            break; /* segment overrides, 67 and the rest are refused below as opcodes */
        }
    }
    osz = (rex & 8) ? 8 : opsize ? 2 : 4;
    if (b == 0x0F) {
        if (dm_x86_byte(&c, &b) != 0) {
            return -1;
        }
        if (b == 0xB6 || b == 0xB7 || b == 0xBE || b == 0xBF) {
            if (rep) {
                return -1;
            }
            if (dm_x86_modrm(&c, rex, &reg, &in) != 0) {
                return -1;
            }
            in.kind = (b & 8) ? DM_X86_LOAD_SX : DM_X86_LOAD_ZX;
            in.msize = (b & 1) ? 2 : 1;
            in.rsize = (uint8_t)osz;
            in.rclass = DM_X86_GPR;
            in.reg = (uint8_t)reg;
        } else if (b == 0xB0 || b == 0xB1 || b == 0xC0 || b == 0xC1) {
            /* CMPXCHG m, r; XADD m, r */
            if (rep || dm_x86_modrm(&c, rex, &reg, &in) != 0) {
                return -1;
            }
            in.kind = DM_X86_ALU_MR;
            in.op = b >= 0xC0 ? DM_X86_XADD : DM_X86_CMPXCHG;
            in.msize = in.rsize = (b & 1) ? (uint8_t)osz : 1;
            dm_x86_set_reg(&in, reg, in.msize, rex_present);
        } else {
            if (opsize && rep) {
                return -1;
            }
            if (dm_x86_sse(&c, b, rep ? rep : opsize ? 0x66 : 0, rex, &in) != 0) {
                return -1;
            }
        }
    } else {
        if (rep) {
            return -1; /* F2/F3 on a MOV: XACQUIRE/XRELEASE hints, or meaningless */
        }
        switch (b) {
        case 0x88: case 0x89: case 0x8A: case 0x8B:
            if (dm_x86_modrm(&c, rex, &reg, &in) != 0) {
                return -1;
            }
            in.kind = (b & 2) ? DM_X86_LOAD : DM_X86_STORE;
            in.msize = in.rsize = (b & 1) ? (uint8_t)osz : 1;
            if (b & 1) {
                in.rclass = DM_X86_GPR;
                in.reg = (uint8_t)reg;
            } else {
                dm_x86_set_reg8(&in, reg, rex_present);
            }
            break;
        case 0xC6: case 0xC7:
            if (dm_x86_modrm(&c, rex, &reg, &in) != 0 || (reg & 7) != 0) {
                return -1; /* /1../7: not MOV (XABORT, XBEGIN are register forms anyway) */
            }
            in.kind = DM_X86_STORE_IMM;
            in.msize = b == 0xC6 ? 1 : (uint8_t)osz;
            if (dm_x86_imm(&c, in.msize == 8 ? 4 : in.msize, &in) != 0) {
                return -1;
            }
            break;
        case 0x63:
            if (!(rex & 8)) {
                return -1; /* MOVSXD without REX.W: a plain 32-bit move, discouraged */
            }
            if (dm_x86_modrm(&c, rex, &reg, &in) != 0) {
                return -1;
            }
            in.kind = DM_X86_LOAD_SX;
            in.msize = 4;
            in.rsize = 8;
            in.rclass = DM_X86_GPR;
            in.reg = (uint8_t)reg;
            break;
        case 0xA0: case 0xA1: case 0xA2: case 0xA3:
            if (dm_x86_signed(&c, 8, &v) != 0) {
                return -1;
            }
            in.kind = (b & 2) ? DM_X86_STORE : DM_X86_LOAD;
            in.msize = in.rsize = (b & 1) ? (uint8_t)osz : 1;
            in.rclass = DM_X86_GPR;
            in.reg = 0; /* AL/AX/EAX/RAX; REX.B does not apply */
            in.base = DM_X86_NOREG;
            in.index = DM_X86_NOREG;
            in.scale = 1;
            in.disp = v;
            break;
        default:
            if (dm_x86_alu(&c, b, rex, rex_present, osz, &in) != 0) {
                return -1;
            }
            break;
        }
    }
    if (lock && (in.kind < DM_X86_ALU_MR || !dm_x86_writes_mem(&in))) {
        return -1; /* LOCK on a move, CMP, TEST or a register destination: #UD */
    }
    in.lock = (uint8_t)lock;
    in.len = (uint8_t)c.pos;
    *insn_p = in;
    return 0;
}

uint64_t dm_x86_ea(const dm_x86_insn_t *insn, const uint64_t gpr[16], uint64_t rip)
{
    uint64_t ea = (uint64_t)insn->disp;

    if (insn->base == DM_X86_RIP) {
        ea += rip + insn->len;
    } else if (insn->base != DM_X86_NOREG) {
        ea += gpr[insn->base];
    }
    if (insn->index != DM_X86_NOREG) {
        ea += gpr[insn->index] * insn->scale;
    }
    return ea;
}

int dm_x86_writes_mem(const dm_x86_insn_t *insn)
{
    switch (insn->kind) {
    case DM_X86_STORE: case DM_X86_STORE_IMM:
        return 1;
    case DM_X86_ALU_MR: case DM_X86_ALU_MI: case DM_X86_ALU_M:
        return insn->op != DM_X86_CMP && insn->op != DM_X86_TEST;
    default:
        return 0;
    }
}

uint64_t dm_x86_load_result(const dm_x86_insn_t *insn, uint64_t old, uint64_t mem)
{
    unsigned mbits = 8u * insn->msize;
    uint64_t v = mbits >= 64 ? mem : mem & ((UINT64_C(1) << mbits) - 1);

    if (insn->kind == DM_X86_LOAD_SX && mbits < 64 && (v >> (mbits - 1)) & 1) {
        v |= ~(uint64_t)0 << mbits;
    }
    if (insn->rclass == DM_X86_HIGH8) {
        return (old & ~(uint64_t)0xFF00) | ((v & 0xFF) << 8);
    }
    switch (insn->rsize) {
    case 1:
        return (old & ~(uint64_t)0xFF) | (v & 0xFF);
    case 2:
        return (old & ~(uint64_t)0xFFFF) | (v & 0xFFFF);
    case 4:
        return v & 0xFFFFFFFFu; /* a 32-bit write clears bits 32..63 */
    default:
        return v;
    }
}
