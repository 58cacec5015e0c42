/*
 * `make abi-check`: compiled twice for RV32 ilp32, once against pvsim's
 * guest headers (-DABI_PVSIM) and once against Xen's public headers (with
 * Xen's x86_32 arch part, as docs/abi.md defines riscv32's); each emits the
 * values of tests/abi_list.h as a word array, and the Makefile compares the
 * two assembly listings entry by entry.
 */
#include <stddef.h>
#include <stdint.h>

#ifdef ABI_PVSIM
#include <pvsim/hypercall.h>
#include <pvsim/start_info.h>
#include <pvsim/shared_info.h>
#include <pvsim/mmu.h>
#include <pvsim/memory.h>
#include <pvsim/event_channel.h>
#include <pvsim/grant_table.h>
#include <pvsim/vcpu.h>
#include <pvsim/xs_wire.h>
#include <pvsim/xencons.h>
#include <pvsim/xenbus.h>
#include <pvsim/blkif.h>
#include <pvsim/netif.h>
#else
#define __i386__ 1
#define __XEN_TOOLS__ 1
#include <xen/xen.h>
#include <xen/sched.h>
#include <xen/version.h>
#include <xen/memory.h>
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/vcpu.h>
#include <xen/errno.h>
#include <xen/io/xs_wire.h>
#include <xen/io/console.h>
#include <xen/io/xenbus.h>
#include <xen/io/blkif.h>
#include <xen/io/netif.h>
/* Linux's names for the netif ring sizes, spelled with Xen's macro. */
#define NET_TX_RING_SIZE __CONST_RING_SIZE(netif_tx, 4096)
#define NET_RX_RING_SIZE __CONST_RING_SIZE(netif_rx, 4096)
#endif

#define X(e) (unsigned int)(e),
const unsigned int abi_values[] = {
#include "abi_list.h"
};
