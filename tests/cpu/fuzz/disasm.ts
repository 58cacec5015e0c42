// A small RV32IMA + Zicsr + privileged disassembler for the differential fuzzer's reports:
// enough to read a minimised program (and any word self-modifying code stored), not a
// general tool. Unknown encodings print as `.word`.

const REG = ['zero', 'ra', 'sp', 'gp', 'tp', 't0', 't1', 't2', 's0', 's1', 'a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 's2', 's3', 's4', 's5', 's6', 's7', 's8', 's9', 's10', 's11', 't3', 't4', 't5', 't6'];
const r = (n: number): string => REG[n & 31]!;
const hex = (n: number): string => `0x${(n >>> 0).toString(16)}`;

const CSR_NAMES: Record<number, string> = {
  0x000: 'ustatus', 0x100: 'sstatus', 0x104: 'sie', 0x105: 'stvec', 0x106: 'scounteren', 0x140: 'sscratch', 0x141: 'sepc',
  0x142: 'scause', 0x143: 'stval', 0x144: 'sip', 0x180: 'satp', 0x300: 'mstatus', 0x301: 'misa', 0x302: 'medeleg',
  0x303: 'mideleg', 0x304: 'mie', 0x305: 'mtvec', 0x306: 'mcounteren', 0x340: 'mscratch', 0x341: 'mepc', 0x342: 'mcause',
  0x343: 'mtval', 0x344: 'mip', 0xb00: 'mcycle', 0xb02: 'minstret', 0xc00: 'cycle', 0xc01: 'time', 0xc02: 'instret',
  0xc80: 'cycleh', 0xc82: 'instreth', 0xf14: 'mhartid',
};

/** One instruction word at `pc`, as text. */
export function disasm(word: number, pc: number): string {
  const inst = word | 0;
  const op = inst & 0x7f;
  const rd = (inst >>> 7) & 31;
  const rs1 = (inst >>> 15) & 31;
  const rs2 = (inst >>> 20) & 31;
  const f3 = (inst >>> 12) & 7;
  const f7 = inst >>> 25;
  const immI = inst >> 20;
  const immS = ((inst >> 25) << 5) | rd;
  const word_ = `.word ${hex(inst)}`;
  switch (op) {
    case 0x37: return `lui ${r(rd)}, ${hex(inst >>> 12)}`;
    case 0x17: return `auipc ${r(rd)}, ${hex(inst >>> 12)}`;
    case 0x6f: {
      const imm = ((inst >> 31) << 20) | (inst & 0xff000) | ((inst >>> 9) & 0x800) | ((inst >>> 20) & 0x7fe);
      return `jal ${r(rd)}, ${hex(pc + imm)}`;
    }
    case 0x67: return f3 === 0 ? `jalr ${r(rd)}, ${immI}(${r(rs1)})` : word_;
    case 0x63: {
      const name = ['beq', 'bne', '', '', 'blt', 'bge', 'bltu', 'bgeu'][f3]!;
      if (!name) return word_;
      const imm = ((inst >> 31) << 12) | ((inst << 4) & 0x800) | ((inst >>> 20) & 0x7e0) | ((inst >>> 7) & 0x1e);
      return `${name} ${r(rs1)}, ${r(rs2)}, ${hex(pc + imm)}`;
    }
    case 0x03: {
      const name = ['lb', 'lh', 'lw', '', 'lbu', 'lhu', '', ''][f3]!;
      return name ? `${name} ${r(rd)}, ${immI}(${r(rs1)})` : word_;
    }
    case 0x23: {
      const name = ['sb', 'sh', 'sw'][f3];
      return name ? `${name} ${r(rs2)}, ${immS}(${r(rs1)})` : word_;
    }
    case 0x13: {
      if (f3 === 1) return f7 === 0 ? `slli ${r(rd)}, ${r(rs1)}, ${rs2}` : word_;
      if (f3 === 5) return f7 === 0 ? `srli ${r(rd)}, ${r(rs1)}, ${rs2}` : f7 === 0x20 ? `srai ${r(rd)}, ${r(rs1)}, ${rs2}` : word_;
      return `${['addi', '', 'slti', 'sltiu', 'xori', '', 'ori', 'andi'][f3]} ${r(rd)}, ${r(rs1)}, ${immI}`;
    }
    case 0x33: {
      const names: Record<number, string> = {
        0x000: 'add', 0x100: 'sub', 0x001: 'sll', 0x002: 'slt', 0x003: 'sltu', 0x004: 'xor', 0x005: 'srl', 0x105: 'sra', 0x006: 'or', 0x007: 'and',
        0x008: 'mul', 0x009: 'mulh', 0x00a: 'mulhsu', 0x00b: 'mulhu', 0x00c: 'div', 0x00d: 'divu', 0x00e: 'rem', 0x00f: 'remu',
      };
      const name = names[(f7 << 3) | f3];
      return name ? `${name} ${r(rd)}, ${r(rs1)}, ${r(rs2)}` : word_;
    }
    case 0x2f: {
      if (f3 !== 2) return word_;
      const names: Record<number, string> = { 0x02: 'lr.w', 0x03: 'sc.w', 0x01: 'amoswap.w', 0x00: 'amoadd.w', 0x04: 'amoxor.w', 0x0c: 'amoand.w', 0x08: 'amoor.w', 0x10: 'amomin.w', 0x14: 'amomax.w', 0x18: 'amominu.w', 0x1c: 'amomaxu.w' };
      const name = names[inst >>> 27];
      if (!name) return word_;
      return name === 'lr.w' ? `lr.w ${r(rd)}, (${r(rs1)})` : `${name} ${r(rd)}, ${r(rs2)}, (${r(rs1)})`;
    }
    case 0x0f: return f3 === 0 ? 'fence' : f3 === 1 ? 'fence.i' : word_;
    case 0x73: {
      if (f3 === 0) {
        switch (inst) {
          case 0x00000073: return 'ecall';
          case 0x00100073: return 'ebreak';
          case 0x30200073: return 'mret';
          case 0x10200073: return 'sret';
          case 0x10500073: return 'wfi';
        }
        if ((inst & 0xfe007fff) === 0x12000073) return `sfence.vma ${r(rs1)}, ${r(rs2)}`;
        return word_;
      }
      if (f3 === 4) return word_;
      const csr = inst >>> 20;
      const name = CSR_NAMES[csr] ?? hex(csr);
      const opn = ['', 'csrrw', 'csrrs', 'csrrc', '', 'csrrwi', 'csrrsi', 'csrrci'][f3]!;
      return `${opn} ${r(rd)}, ${name}, ${f3 >= 5 ? rs1 : r(rs1)}`;
    }
    default: return word_;
  }
}

/** A listing: address, word, mnemonic, one line each. */
export function listing(words: ArrayLike<number>, base: number, mark?: (addr: number) => string): string {
  const lines: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const pc = (base + 4 * i) >>> 0;
    const w = words[i]! >>> 0;
    lines.push(`  ${pc.toString(16).padStart(8, '0')}:  ${w.toString(16).padStart(8, '0')}  ${disasm(w, pc)}${mark?.(pc) ?? ''}`);
  }
  return lines.join('\n');
}
