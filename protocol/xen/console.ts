// struct xencons_interface (xen/io/console.h), the PV console ring: in[1024], out[2048], then
// the four free-running 32-bit indices. The guest produces `out` and consumes `in`; the
// backend does the opposite. Pinned to Xen's header by tests/xen-abi-io.test.ts and to the
// guests' (guests/include/pvsim/xencons.h) by tests/pvabi.test.ts.

export const XENCONS = {
  in: 0,
  IN_SIZE: 1024,
  out: 1024,
  OUT_SIZE: 2048,
  in_cons: 3072,
  in_prod: 3076,
  out_cons: 3080,
  out_prod: 3084,
  SIZE: 3088,
} as const;
