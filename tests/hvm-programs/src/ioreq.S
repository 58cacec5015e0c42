/* MMIO served by an ioreq server (the device model's path): a load and a store to the
 * first virtio-mmio slot, each waiting for the server's answer. */
#include "hvm.h"

main:
  TEST_CASE 1
  li s1, 0x10001000
  lw t1, 0x100(s1)
  CHECK t1, 0x1234abcd
  TEST_CASE 2
  lbu t1, 0x108(s1)     /* a byte, zero-extended */
  CHECK t1, 0xcd
  TEST_CASE 3
  li t1, 0x55
  sw t1, 0x104(s1)
  TEST_PASS
