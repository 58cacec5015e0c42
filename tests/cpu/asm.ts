// A tiny RV32IMA + Zicsr encoder for building test programs in memory. Each function
// returns one instruction word (unsigned); `li` returns two. Operand order follows the
// assembler: rd first, then sources; memory operands as (rd/rs2, offset, base).

const u = (v: number): number => v >>> 0;

export function rType(opcode: number, f3: number, f7: number, rd: number, rs1: number, rs2: number): number {
  return u((f7 << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opcode);
}

export function iType(opcode: number, f3: number, rd: number, rs1: number, imm: number): number {
  return u(((imm & 0xfff) << 20) | (rs1 << 15) | (f3 << 12) | (rd << 7) | opcode);
}

export function sType(f3: number, rs2: number, rs1: number, imm: number): number {
  return u((((imm >> 5) & 0x7f) << 25) | (rs2 << 20) | (rs1 << 15) | (f3 << 12) | ((imm & 0x1f) << 7) | 0x23);
}

export function bType(f3: number, rs1: number, rs2: number, off: number): number {
  return u(
    (((off >> 12) & 1) << 31) | (((off >> 5) & 0x3f) << 25) | (rs2 << 20) | (rs1 << 15) |
      (f3 << 12) | (((off >> 1) & 0xf) << 8) | (((off >> 11) & 1) << 7) | 0x63,
  );
}

// ---- RV32I ----
export const lui = (rd: number, imm20: number): number => u(((imm20 & 0xfffff) << 12) | (rd << 7) | 0x37);
export const auipc = (rd: number, imm20: number): number => u(((imm20 & 0xfffff) << 12) | (rd << 7) | 0x17);
export const jal = (rd: number, off: number): number =>
  u(
    (((off >> 20) & 1) << 31) | (((off >> 1) & 0x3ff) << 21) | (((off >> 11) & 1) << 20) |
      (((off >> 12) & 0xff) << 12) | (rd << 7) | 0x6f,
  );
export const jalr = (rd: number, rs1: number, imm: number): number => iType(0x67, 0, rd, rs1, imm);

export const beq = (rs1: number, rs2: number, off: number): number => bType(0, rs1, rs2, off);
export const bne = (rs1: number, rs2: number, off: number): number => bType(1, rs1, rs2, off);
export const blt = (rs1: number, rs2: number, off: number): number => bType(4, rs1, rs2, off);
export const bge = (rs1: number, rs2: number, off: number): number => bType(5, rs1, rs2, off);
export const bltu = (rs1: number, rs2: number, off: number): number => bType(6, rs1, rs2, off);
export const bgeu = (rs1: number, rs2: number, off: number): number => bType(7, rs1, rs2, off);

export const lb = (rd: number, imm: number, rs1: number): number => iType(0x03, 0, rd, rs1, imm);
export const lh = (rd: number, imm: number, rs1: number): number => iType(0x03, 1, rd, rs1, imm);
export const lw = (rd: number, imm: number, rs1: number): number => iType(0x03, 2, rd, rs1, imm);
export const lbu = (rd: number, imm: number, rs1: number): number => iType(0x03, 4, rd, rs1, imm);
export const lhu = (rd: number, imm: number, rs1: number): number => iType(0x03, 5, rd, rs1, imm);
export const sb = (rs2: number, imm: number, rs1: number): number => sType(0, rs2, rs1, imm);
export const sh = (rs2: number, imm: number, rs1: number): number => sType(1, rs2, rs1, imm);
export const sw = (rs2: number, imm: number, rs1: number): number => sType(2, rs2, rs1, imm);

export const addi = (rd: number, rs1: number, imm: number): number => iType(0x13, 0, rd, rs1, imm);
export const slti = (rd: number, rs1: number, imm: number): number => iType(0x13, 2, rd, rs1, imm);
export const sltiu = (rd: number, rs1: number, imm: number): number => iType(0x13, 3, rd, rs1, imm);
export const xori = (rd: number, rs1: number, imm: number): number => iType(0x13, 4, rd, rs1, imm);
export const ori = (rd: number, rs1: number, imm: number): number => iType(0x13, 6, rd, rs1, imm);
export const andi = (rd: number, rs1: number, imm: number): number => iType(0x13, 7, rd, rs1, imm);
export const slli = (rd: number, rs1: number, sh: number): number => iType(0x13, 1, rd, rs1, sh & 31);
export const srli = (rd: number, rs1: number, sh: number): number => iType(0x13, 5, rd, rs1, sh & 31);
export const srai = (rd: number, rs1: number, sh: number): number => iType(0x13, 5, rd, rs1, 0x400 | (sh & 31));

export const add = (rd: number, rs1: number, rs2: number): number => rType(0x33, 0, 0, rd, rs1, rs2);
export const sub = (rd: number, rs1: number, rs2: number): number => rType(0x33, 0, 0x20, rd, rs1, rs2);
export const sll = (rd: number, rs1: number, rs2: number): number => rType(0x33, 1, 0, rd, rs1, rs2);
export const slt = (rd: number, rs1: number, rs2: number): number => rType(0x33, 2, 0, rd, rs1, rs2);
export const sltu = (rd: number, rs1: number, rs2: number): number => rType(0x33, 3, 0, rd, rs1, rs2);
export const xor = (rd: number, rs1: number, rs2: number): number => rType(0x33, 4, 0, rd, rs1, rs2);
export const srl = (rd: number, rs1: number, rs2: number): number => rType(0x33, 5, 0, rd, rs1, rs2);
export const sra = (rd: number, rs1: number, rs2: number): number => rType(0x33, 5, 0x20, rd, rs1, rs2);
export const or = (rd: number, rs1: number, rs2: number): number => rType(0x33, 6, 0, rd, rs1, rs2);
export const and = (rd: number, rs1: number, rs2: number): number => rType(0x33, 7, 0, rd, rs1, rs2);

// ---- M ----
export const mul = (rd: number, rs1: number, rs2: number): number => rType(0x33, 0, 1, rd, rs1, rs2);
export const mulh = (rd: number, rs1: number, rs2: number): number => rType(0x33, 1, 1, rd, rs1, rs2);
export const mulhsu = (rd: number, rs1: number, rs2: number): number => rType(0x33, 2, 1, rd, rs1, rs2);
export const mulhu = (rd: number, rs1: number, rs2: number): number => rType(0x33, 3, 1, rd, rs1, rs2);
export const div = (rd: number, rs1: number, rs2: number): number => rType(0x33, 4, 1, rd, rs1, rs2);
export const divu = (rd: number, rs1: number, rs2: number): number => rType(0x33, 5, 1, rd, rs1, rs2);
export const rem = (rd: number, rs1: number, rs2: number): number => rType(0x33, 6, 1, rd, rs1, rs2);
export const remu = (rd: number, rs1: number, rs2: number): number => rType(0x33, 7, 1, rd, rs1, rs2);

// ---- A ----
const amo = (f5: number) => (rd: number, rs2: number, rs1: number, aq = 0, rl = 0): number =>
  rType(0x2f, 2, (f5 << 2) | (aq << 1) | rl, rd, rs1, rs2);
export const lr_w = (rd: number, rs1: number, aq = 0, rl = 0): number => rType(0x2f, 2, (0x02 << 2) | (aq << 1) | rl, rd, rs1, 0);
export const sc_w = amo(0x03);
export const amoswap_w = amo(0x01);
export const amoadd_w = amo(0x00);
export const amoxor_w = amo(0x04);
export const amoand_w = amo(0x0c);
export const amoor_w = amo(0x08);
export const amomin_w = amo(0x10);
export const amomax_w = amo(0x14);
export const amominu_w = amo(0x18);
export const amomaxu_w = amo(0x1c);

// ---- Zicsr ----
export const csrrw = (rd: number, csr: number, rs1: number): number => iType(0x73, 1, rd, rs1, csr);
export const csrrs = (rd: number, csr: number, rs1: number): number => iType(0x73, 2, rd, rs1, csr);
export const csrrc = (rd: number, csr: number, rs1: number): number => iType(0x73, 3, rd, rs1, csr);
export const csrrwi = (rd: number, csr: number, uimm: number): number => iType(0x73, 5, rd, uimm, csr);
export const csrrsi = (rd: number, csr: number, uimm: number): number => iType(0x73, 6, rd, uimm, csr);
export const csrrci = (rd: number, csr: number, uimm: number): number => iType(0x73, 7, rd, uimm, csr);
export const csrr = (rd: number, csr: number): number => csrrs(rd, csr, 0);
export const csrw = (csr: number, rs1: number): number => csrrw(0, csr, rs1);

// ---- System / fences ----
export const ecall = (): number => 0x00000073;
export const ebreak = (): number => 0x00100073;
export const mret = (): number => 0x30200073;
export const sret = (): number => 0x10200073;
export const wfi = (): number => 0x10500073;
export const sfence_vma = (rs1 = 0, rs2 = 0): number => rType(0x73, 0, 0x09, 0, rs1, rs2);
export const fence = (): number => 0x0ff0000f;
export const fence_i = (): number => 0x0000100f;
export const nop = (): number => addi(0, 0, 0);

/** Loads a 32-bit constant: lui + addi (two words). */
export function li(rd: number, value: number): number[] {
  const v = value | 0;
  const lo = (v << 20) >> 20;
  const hi = ((v - lo) >>> 12) & 0xfffff;
  return [lui(rd, hi), addi(rd, rd, lo)];
}
