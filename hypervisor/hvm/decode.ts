// Decoding the load, store or AMO behind an MMIO or page-table-write exit (RV32IA). Shared
// by both virtualization modes: trap mode reads the instruction from guest memory, hw mode
// may get it from htinst (a transformed instruction has the same fields used here).

export type MemAccess =
  | { kind: 'load'; size: 1 | 2 | 4; signed: boolean; rd: number }
  | { kind: 'store'; size: 1 | 2 | 4; rs2: number }
  /** AMO (f5 as in the A extension: 0 add, 1 swap, 4 xor, 8 or, 0xc and, 0x10 min, 0x14 max, 0x18 minu, 0x1c maxu). */
  | { kind: 'amo'; f5: number; rd: number; rs2: number }
  | { kind: 'lr'; rd: number }
  | { kind: 'sc'; rd: number; rs2: number };

/** The memory access `inst` makes, or null if it is not a (valid) load, store or AMO. */
export function decodeMemAccess(inst: number): MemAccess | null {
  const op = inst & 0x7f;
  const f3 = (inst >>> 12) & 7;
  const rd = (inst >>> 7) & 31;
  const rs2 = (inst >>> 20) & 31;
  if (op === 0x03) {
    switch (f3) {
      case 0: return { kind: 'load', size: 1, signed: true, rd };
      case 1: return { kind: 'load', size: 2, signed: true, rd };
      case 2: return { kind: 'load', size: 4, signed: true, rd };
      case 4: return { kind: 'load', size: 1, signed: false, rd };
      case 5: return { kind: 'load', size: 2, signed: false, rd };
      default: return null;
    }
  }
  if (op === 0x23) {
    if (f3 > 2) return null;
    return { kind: 'store', size: (1 << f3) as 1 | 2 | 4, rs2 };
  }
  if (op === 0x2f && f3 === 2) {
    const f5 = inst >>> 27;
    if (f5 === 0x02) return rs2 === 0 ? { kind: 'lr', rd } : null;
    if (f5 === 0x03) return { kind: 'sc', rd, rs2 };
    if ([0x00, 0x01, 0x04, 0x08, 0x0c, 0x10, 0x14, 0x18, 0x1c].includes(f5)) return { kind: 'amo', f5, rd, rs2 };
  }
  return null;
}

/** The value an AMO stores, from the old memory value and rs2 (both as int32). */
export function amoResult(f5: number, old: number, src: number): number {
  switch (f5) {
    case 0x00: return (old + src) | 0;
    case 0x01: return src | 0;
    case 0x04: return old ^ src;
    case 0x08: return old | src;
    case 0x0c: return old & src;
    case 0x10: return Math.min(old | 0, src | 0);
    case 0x14: return Math.max(old | 0, src | 0);
    case 0x18: return (old >>> 0 < src >>> 0 ? old : src) | 0;
    default: return (old >>> 0 > src >>> 0 ? old : src) | 0;
  }
}

/** A loaded value of `size` bytes, sign- or zero-extended to int32. */
export function extendLoad(value: number, size: 1 | 2 | 4, signed: boolean): number {
  if (size === 4) return value | 0;
  const bits = size * 8;
  const v = value & ((1 << bits) - 1);
  return signed ? (v << (32 - bits)) >> (32 - bits) : v;
}

/**
 * The effective address of the load, store or AMO `inst` with registers `x` (rs1 plus the
 * I- or S-type offset; an AMO's is rs1), or null if `inst` is none of them. An exit gives
 * only the faulting address, which for an access split at a page boundary is the second
 * part's: the emulation needs the whole access's to tell it is misaligned.
 */
export function memAccessAddress(inst: number, x: ArrayLike<number>): number | null {
  const op = inst & 0x7f;
  const base = x[(inst >>> 15) & 31]! >>> 0;
  if (op === 0x03) return (base + (inst >> 20)) >>> 0;
  if (op === 0x23) return (base + (((inst >> 25) << 5) | ((inst >>> 7) & 31))) >>> 0;
  if (op === 0x2f) return base;
  return null;
}

/** Names of the CSRs an S-mode guest uses (privileged spec 20211203, tables 2.2-2.5). */
const CSR_NAMES: Record<number, string> = {
  0x100: 'sstatus', 0x104: 'sie', 0x105: 'stvec', 0x106: 'scounteren', 0x10a: 'senvcfg',
  0x140: 'sscratch', 0x141: 'sepc', 0x142: 'scause', 0x143: 'stval', 0x144: 'sip', 0x180: 'satp',
  0xc00: 'cycle', 0xc01: 'time', 0xc02: 'instret', 0xc80: 'cycleh', 0xc81: 'timeh', 0xc82: 'instreth',
};

const ZICSR = ['', 'csrrw', 'csrrs', 'csrrc', '', 'csrrwi', 'csrrsi', 'csrrci'];

/**
 * A SYSTEM instruction as an exit table names it: "sret", "wfi", "sfence.vma", "mret",
 * "ecall", or a Zicsr mnemonic with its CSR ("csrrs sstatus", "csrrw 0x7c0" for a CSR
 * without a name here); anything else "insn 0x........".
 */
export function systemInsnName(inst: number): string {
  inst >>>= 0;
  if ((inst & 0x7f) === 0x73) {
    const f3 = (inst >>> 12) & 7;
    if (f3 !== 0 && f3 !== 4) {
      const csr = inst >>> 20;
      return `${ZICSR[f3]} ${CSR_NAMES[csr] ?? `0x${csr.toString(16).padStart(3, '0')}`}`;
    }
    if (f3 === 0) {
      if (inst === 0x10200073) return 'sret';
      if (inst === 0x30200073) return 'mret';
      if (inst === 0x10500073) return 'wfi';
      if (inst === 0x00000073) return 'ecall';
      if (inst === 0x00100073) return 'ebreak';
      if ((inst & 0xfe007fff) === 0x12000073) return 'sfence.vma';
    }
  }
  return `insn 0x${inst.toString(16).padStart(8, '0')}`;
}
