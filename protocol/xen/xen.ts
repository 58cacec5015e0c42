// xen/xen.h's basic constants: the page size and the reserved domain ids. Every layer
// (hypervisor, dom0, tools) takes them from here; tests/mm-abi.test.ts pins DOMID to Xen's
// headers and tests/pvabi.test.ts pins the page size to the guests'.

/** XEN_PAGE_SHIFT: one page of guest memory, a grant, a ring (4 KiB on every Xen ABI). */
export const PAGE_SHIFT = 12;
export const PAGE_SIZE = 1 << PAGE_SHIFT;

/** Reserved domain ids (xen/xen.h). */
export const DOMID = {
  FIRST_RESERVED: 0x7ff0,
  SELF: 0x7ff0,
  IO: 0x7ff1,
  XEN: 0x7ff2,
  COW: 0x7ff3,
  INVALID: 0x7ff4,
  IDLE: 0x7fff,
} as const;
