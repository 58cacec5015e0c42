// CSR numbers, status/interrupt bit positions and trap causes, named as in the RISC-V
// privileged specification (20211203). Pure constants: no behaviour lives here.

// ---- Unprivileged counters (Zicntr / Zihpm) ----
export const CSR_CYCLE = 0xc00;
export const CSR_TIME = 0xc01;
export const CSR_INSTRET = 0xc02;
export const CSR_HPMCOUNTER3 = 0xc03;
export const CSR_HPMCOUNTER31 = 0xc1f;
export const CSR_CYCLEH = 0xc80;
export const CSR_TIMEH = 0xc81;
export const CSR_INSTRETH = 0xc82;
export const CSR_HPMCOUNTER3H = 0xc83;
export const CSR_HPMCOUNTER31H = 0xc9f;

// ---- Supervisor ----
export const CSR_SSTATUS = 0x100;
export const CSR_SIE = 0x104;
export const CSR_STVEC = 0x105;
export const CSR_SCOUNTEREN = 0x106;
export const CSR_SENVCFG = 0x10a;
export const CSR_SSCRATCH = 0x140;
export const CSR_SEPC = 0x141;
export const CSR_SCAUSE = 0x142;
export const CSR_STVAL = 0x143;
export const CSR_SIP = 0x144;
export const CSR_SATP = 0x180;

// ---- Machine ----
export const CSR_MVENDORID = 0xf11;
export const CSR_MARCHID = 0xf12;
export const CSR_MIMPID = 0xf13;
export const CSR_MHARTID = 0xf14;
export const CSR_MCONFIGPTR = 0xf15;
export const CSR_MSTATUS = 0x300;
export const CSR_MISA = 0x301;
export const CSR_MEDELEG = 0x302;
export const CSR_MIDELEG = 0x303;
export const CSR_MIE = 0x304;
export const CSR_MTVEC = 0x305;
export const CSR_MCOUNTEREN = 0x306;
export const CSR_MENVCFG = 0x30a;
export const CSR_MSTATUSH = 0x310;
export const CSR_MENVCFGH = 0x31a;
export const CSR_MCOUNTINHIBIT = 0x320;
export const CSR_MHPMEVENT3 = 0x323;
export const CSR_MHPMEVENT31 = 0x33f;
export const CSR_MSCRATCH = 0x340;
export const CSR_MEPC = 0x341;
export const CSR_MCAUSE = 0x342;
export const CSR_MTVAL = 0x343;
export const CSR_MIP = 0x344;
export const CSR_PMPCFG0 = 0x3a0;
export const CSR_PMPCFG15 = 0x3af;
export const CSR_PMPADDR0 = 0x3b0;
export const CSR_PMPADDR63 = 0x3ef;
export const CSR_MCYCLE = 0xb00;
export const CSR_MINSTRET = 0xb02;
export const CSR_MHPMCOUNTER3 = 0xb03;
export const CSR_MHPMCOUNTER31 = 0xb1f;
export const CSR_MCYCLEH = 0xb80;
export const CSR_MINSTRETH = 0xb82;
export const CSR_MHPMCOUNTER3H = 0xb83;
export const CSR_MHPMCOUNTER31H = 0xb9f;

/** misa for RV32 with I, M, A, S, U (MXL=1 in bits 31:30). */
export const MISA_VALUE = 0x40141101;

// ---- mstatus / sstatus fields ----
export const MSTATUS_SIE = 1 << 1;
export const MSTATUS_MIE = 1 << 3;
export const MSTATUS_SPIE = 1 << 5;
export const MSTATUS_UBE = 1 << 6;
export const MSTATUS_MPIE = 1 << 7;
export const MSTATUS_SPP = 1 << 8;
export const MSTATUS_VS = 3 << 9;
export const MSTATUS_MPP_SHIFT = 11;
export const MSTATUS_MPP = 3 << MSTATUS_MPP_SHIFT;
export const MSTATUS_FS = 3 << 13;
export const MSTATUS_XS = 3 << 15;
export const MSTATUS_MPRV = 1 << 17;
export const MSTATUS_SUM = 1 << 18;
export const MSTATUS_MXR = 1 << 19;
export const MSTATUS_TVM = 1 << 20;
export const MSTATUS_TW = 1 << 21;
export const MSTATUS_TSR = 1 << 22;
export const MSTATUS_SD = 1 << 31;

/** mstatus bits this hart implements as writable (FS/VS/XS/SD/UBE are read-only zero). */
export const MSTATUS_WMASK =
  MSTATUS_SIE | MSTATUS_MIE | MSTATUS_SPIE | MSTATUS_MPIE | MSTATUS_SPP | MSTATUS_MPP |
  MSTATUS_MPRV | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_TVM | MSTATUS_TW | MSTATUS_TSR;
/** The sstatus view of mstatus (readable bits). */
export const SSTATUS_MASK =
  MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_UBE | MSTATUS_SPP | MSTATUS_VS | MSTATUS_FS |
  MSTATUS_XS | MSTATUS_SUM | MSTATUS_MXR | MSTATUS_SD;
/** sstatus bits writable from S-mode. */
export const SSTATUS_WMASK = MSTATUS_SIE | MSTATUS_SPIE | MSTATUS_SPP | MSTATUS_SUM | MSTATUS_MXR;

// ---- Interrupt numbers (bit positions in mip/mie) ----
export const IRQ_SSI = 1;
export const IRQ_MSI = 3;
export const IRQ_STI = 5;
export const IRQ_MTI = 7;
export const IRQ_SEI = 9;
export const IRQ_MEI = 11;

export const MIP_SSIP = 1 << IRQ_SSI;
export const MIP_MSIP = 1 << IRQ_MSI;
export const MIP_STIP = 1 << IRQ_STI;
export const MIP_MTIP = 1 << IRQ_MTI;
export const MIP_SEIP = 1 << IRQ_SEI;
export const MIP_MEIP = 1 << IRQ_MEI;

/** Interrupt-enable bits implemented in mie. */
export const MIE_MASK = MIP_SSIP | MIP_MSIP | MIP_STIP | MIP_MTIP | MIP_SEIP | MIP_MEIP;
/** Supervisor-level interrupts: the only ones that may be delegated with mideleg. */
export const S_INTERRUPTS = MIP_SSIP | MIP_STIP | MIP_SEIP;
/** mip bits M-mode software may write (MSIP/MTIP/MEIP come from the platform). */
export const MIP_WMASK = MIP_SSIP | MIP_STIP | MIP_SEIP;

/** Bit 31 of mcause/scause: the trap was an interrupt. */
export const CAUSE_INTERRUPT = 0x80000000;

// ---- Exception codes ----
export const CAUSE_MISALIGNED_FETCH = 0;
export const CAUSE_FETCH_ACCESS = 1;
export const CAUSE_ILLEGAL_INSTRUCTION = 2;
export const CAUSE_BREAKPOINT = 3;
export const CAUSE_MISALIGNED_LOAD = 4;
export const CAUSE_LOAD_ACCESS = 5;
export const CAUSE_MISALIGNED_STORE = 6;
export const CAUSE_STORE_ACCESS = 7;
export const CAUSE_USER_ECALL = 8;
export const CAUSE_SUPERVISOR_ECALL = 9;
export const CAUSE_MACHINE_ECALL = 11;
export const CAUSE_FETCH_PAGE_FAULT = 12;
export const CAUSE_LOAD_PAGE_FAULT = 13;
export const CAUSE_STORE_PAGE_FAULT = 15;

/** medeleg bits that may be set (ecall-from-M and reserved codes are read-only zero). */
export const MEDELEG_MASK = 0xb3ff;

// ---- mtvec / stvec ----
export const TVEC_MODE_VECTORED = 1;

// ---- satp (Sv32) ----
export const SATP_MODE_SV32 = 0x80000000;
export const SATP_PPN_MASK = 0x003fffff;
/** Implemented satp bits: MODE and PPN (ASID is WARL zero). */
export const SATP_WMASK = 0x803fffff;

// ---- Counter-enable bits (mcounteren / scounteren) ----
export const COUNTEREN_CY = 1 << 0;
export const COUNTEREN_TM = 1 << 1;
export const COUNTEREN_IR = 1 << 2;

// ---- Hypervisor extension (privileged spec 20211203, chapter 8) ----
export const CSR_HSTATUS = 0x600;
export const CSR_HEDELEG = 0x602;
export const CSR_HIDELEG = 0x603;
export const CSR_HIE = 0x604;
export const CSR_HTIMEDELTA = 0x605;
export const CSR_HCOUNTEREN = 0x606;
export const CSR_HGEIE = 0x607;
export const CSR_HENVCFG = 0x60a;
export const CSR_HTIMEDELTAH = 0x615;
export const CSR_HENVCFGH = 0x61a;
export const CSR_HTVAL = 0x643;
export const CSR_HIP = 0x644;
export const CSR_HVIP = 0x645;
export const CSR_HTINST = 0x64a;
export const CSR_HGATP = 0x680;
export const CSR_HGEIP = 0xe12;
export const CSR_VSSTATUS = 0x200;
export const CSR_VSIE = 0x204;
export const CSR_VSTVEC = 0x205;
export const CSR_VSSCRATCH = 0x240;
export const CSR_VSEPC = 0x241;
export const CSR_VSCAUSE = 0x242;
export const CSR_VSTVAL = 0x243;
export const CSR_VSIP = 0x244;
export const CSR_VSATP = 0x280;
export const CSR_MTINST = 0x34a;
export const CSR_MTVAL2 = 0x34b;

/** misa.H (bit 7, 'H'). */
export const MISA_H = 1 << 7;

// ---- hstatus fields (VSBE and VGEIN are read-only zero here: little-endian, GEILEN = 0) ----
export const HSTATUS_GVA = 1 << 6;
export const HSTATUS_SPV = 1 << 7;
export const HSTATUS_SPVP = 1 << 8;
export const HSTATUS_HU = 1 << 9;
export const HSTATUS_VTVM = 1 << 20;
export const HSTATUS_VTW = 1 << 21;
export const HSTATUS_VTSR = 1 << 22;
export const HSTATUS_WMASK =
  HSTATUS_GVA | HSTATUS_SPV | HSTATUS_SPVP | HSTATUS_HU | HSTATUS_VTVM | HSTATUS_VTW | HSTATUS_VTSR;

// ---- mstatush fields (RV32) ----
export const MSTATUSH_GVA = 1 << 6;
export const MSTATUSH_MPV = 1 << 7;

// ---- VS-level interrupts ----
export const IRQ_VSSI = 2;
export const IRQ_VSTI = 6;
export const IRQ_VSEI = 10;
export const MIP_VSSIP = 1 << IRQ_VSSI;
export const MIP_VSTIP = 1 << IRQ_VSTI;
export const MIP_VSEIP = 1 << IRQ_VSEI;
/** The VS-level interrupt bits (hvip, hip, hie, hideleg; read-only one in mideleg). */
export const VS_INTERRUPTS = MIP_VSSIP | MIP_VSTIP | MIP_VSEIP;

// ---- H exception codes ----
export const CAUSE_VIRTUAL_SUPERVISOR_ECALL = 10;
export const CAUSE_FETCH_GUEST_PAGE_FAULT = 20;
export const CAUSE_LOAD_GUEST_PAGE_FAULT = 21;
export const CAUSE_VIRTUAL_INSTRUCTION = 22;
export const CAUSE_STORE_GUEST_PAGE_FAULT = 23;

/** medeleg bits added by H: ecall from VS, guest-page faults, virtual instruction. */
export const MEDELEG_H_BITS = (1 << 10) | (0xf << 20);
/** hedeleg writable bits: 0-8, 12, 13, 15 (9-11 and 20-23 are read-only zero). */
export const HEDELEG_MASK = 0xb1ff;

// ---- hgatp (Sv32x4) ----
export const HGATP_MODE_SV32X4 = 0x80000000;
/** VMID is hgatp[28:22]; VMIDLEN = 7 (all of it). */
export const HGATP_VMID_MASK = 0x1fc00000;
/** PPN of the 16 KiB-aligned root: PPN[1:0] read as zero. */
export const HGATP_PPN_MASK = 0x003ffffc;
export const HGATP_WMASK = HGATP_MODE_SV32X4 | HGATP_VMID_MASK | HGATP_PPN_MASK;

// ---- htinst / mtinst pseudoinstructions for implicit VS-stage page-table accesses ----
export const TINST_PT_READ = 0x00002000;
export const TINST_PT_WRITE = 0x00002020;
