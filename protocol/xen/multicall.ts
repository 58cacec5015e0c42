// struct multicall_entry (xen/xen.h) for RV32 ilp32: op, result, args[6], all 32-bit.

export const MULTICALL_ENTRY = { op: 0, result: 4, args: 8, NR_ARGS: 6, SIZE: 32 } as const;
