// Xen's start_info_t (xen/xen.h) as compiled for RV32 ilp32: `unsigned long` and
// xen_pfn_t are 32 bits. tests/xen-abi.test.ts pins these offsets to Xen's header.

import { XEN_ARCH_ABI } from './arch_riscv32.ts';

export const START_INFO_MAGIC = XEN_ARCH_ABI;
export const MAX_GUEST_CMDLINE = 1024;

export const START_INFO = {
  magic: 0, // char[32]
  nr_pages: 32,
  shared_info: 36, // machine address of the shared_info page
  flags: 40,
  store_mfn: 44,
  store_evtchn: 48,
  console_mfn: 52, // console.domU.mfn
  console_evtchn: 56, // console.domU.evtchn
  pt_base: 60, // virtual address of the bootstrap L2 table
  nr_pt_frames: 64,
  mfn_list: 68, // virtual address of the pfn -> mfn list
  mod_start: 72,
  mod_len: 76,
  cmd_line: 80, // int8_t[MAX_GUEST_CMDLINE]
  first_p2m_pfn: 1104,
  nr_p2m_frames: 1108,
  SIZE: 1112,
} as const;

/** start_info.flags bits. */
export const SIF = {
  PRIVILEGED: 1 << 0,
  INITDOMAIN: 1 << 1,
  MULTIBOOT_MOD: 1 << 2,
  MOD_START_PFN: 1 << 3,
  VIRT_P2M_4TOOLS: 1 << 4,
} as const;

export interface StartInfo {
  nrPages: number;
  sharedInfo: number;
  flags: number;
  storeMfn: number;
  storeEvtchn: number;
  consoleMfn: number;
  consoleEvtchn: number;
  ptBase: number;
  nrPtFrames: number;
  mfnList: number;
  modStart: number;
  modLen: number;
  cmdLine: string;
}

/** Writes `si` into `page` (a zeroed 4 KiB frame). Throws if the command line does not fit. */
export function writeStartInfo(page: Uint8Array, si: StartInfo): void {
  const dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const enc = new TextEncoder();
  page.fill(0, 0, START_INFO.SIZE);
  page.set(enc.encode(START_INFO_MAGIC), START_INFO.magic);
  const w = (off: number, v: number) => dv.setUint32(off, v >>> 0, true);
  w(START_INFO.nr_pages, si.nrPages);
  w(START_INFO.shared_info, si.sharedInfo);
  w(START_INFO.flags, si.flags);
  w(START_INFO.store_mfn, si.storeMfn);
  w(START_INFO.store_evtchn, si.storeEvtchn);
  w(START_INFO.console_mfn, si.consoleMfn);
  w(START_INFO.console_evtchn, si.consoleEvtchn);
  w(START_INFO.pt_base, si.ptBase);
  w(START_INFO.nr_pt_frames, si.nrPtFrames);
  w(START_INFO.mfn_list, si.mfnList);
  w(START_INFO.mod_start, si.modStart);
  w(START_INFO.mod_len, si.modLen);
  const cmd = enc.encode(si.cmdLine);
  if (cmd.length >= MAX_GUEST_CMDLINE) {
    throw new RangeError(`command line is ${cmd.length} bytes; Xen allows at most ${MAX_GUEST_CMDLINE - 1}`);
  }
  page.set(cmd, START_INFO.cmd_line);
}

export function readStartInfo(page: Uint8Array): StartInfo & { magic: string } {
  const dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
  const r = (off: number) => dv.getUint32(off, true);
  const str = (off: number, max: number) => {
    let end = off;
    while (end < off + max && page[end] !== 0) end++;
    return new TextDecoder().decode(page.subarray(off, end));
  };
  return {
    magic: str(START_INFO.magic, 32),
    nrPages: r(START_INFO.nr_pages),
    sharedInfo: r(START_INFO.shared_info),
    flags: r(START_INFO.flags),
    storeMfn: r(START_INFO.store_mfn),
    storeEvtchn: r(START_INFO.store_evtchn),
    consoleMfn: r(START_INFO.console_mfn),
    consoleEvtchn: r(START_INFO.console_evtchn),
    ptBase: r(START_INFO.pt_base),
    nrPtFrames: r(START_INFO.nr_pt_frames),
    mfnList: r(START_INFO.mfn_list),
    modStart: r(START_INFO.mod_start),
    modLen: r(START_INFO.mod_len),
    cmdLine: str(START_INFO.cmd_line, MAX_GUEST_CMDLINE),
  };
}
