// Each hypercall's success and error paths, called the way the trap handler calls them.

import { describe, expect, it } from 'vitest';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import { dispatchHypercall } from '../hypervisor/hypercall/index.ts';
import { copyFromGuest, copyToGuest } from '../hypervisor/mm/guest_access.ts';
import { CONSOLEIO, HYPERVISOR, SCHEDOP, SHUTDOWN, XENVER } from '../protocol/xen/hypercall.ts';
import { XEN_ERRNO } from '../protocol/xen/errno.ts';
import { pvImage, SPIN, PV_BASE } from './helpers/pv_image.ts';
import { u32Bytes } from './helpers/elf_writer.ts';

const BUF = PV_BASE + 4096; // a writable bss page
const UNMAPPED = 0x1000;

function setup(privileged = false) {
  const hv = new Hypervisor({ machineMemoryBytes: 32 * 1024 * 1024, commandLine: 'loglvl=all' });
  const console: string[] = [];
  hv.onConsole = (_d, b) => console.push(new TextDecoder().decode(b));
  const { domain, layout } = hv.createPvDomain(pvImage(SPIN, { bssBytes: 8 * 4096 }), {
    name: 'guest',
    memoryBytes: 4 * 1024 * 1024,
    privileged,
  });
  hv.unpause(domain);
  const vcpu = domain.vcpus[0]!;
  const call = (nr: number, ...args: number[]) => dispatchHypercall({ hv, vcpu }, nr, args[0] ?? 0, args[1] ?? 0, args[2] ?? 0, args[3] ?? 0, args[4] ?? 0);
  const put = (va: number, data: Uint8Array) => expect(copyToGuest(vcpu.hart, va, data)).toBe(true);
  const get = (va: number, n: number) => copyFromGuest(vcpu.hart, va, n)!;
  return { hv, domain, layout, vcpu, call, put, get, console };
}

const E = (name: keyof typeof XEN_ERRNO) => -XEN_ERRNO[name];

describe('console_io', () => {
  it('writes guest bytes to the console and the hypervisor log', () => {
    const { call, put, console, hv } = setup();
    put(BUF, new TextEncoder().encode('hi there\n'));
    expect(call(HYPERVISOR.console_io, CONSOLEIO.write, 9, BUF)).toBe(0);
    expect(console.join('')).toBe('hi there\n');
    expect(hv.dmesg()).toContain('(d1) hi there');
  });

  it('answers a bad pointer with -EFAULT and prints nothing', () => {
    const { call, console, layout } = setup();
    expect(call(HYPERVISOR.console_io, CONSOLEIO.write, 16, UNMAPPED)).toBe(E('EFAULT'));
    // A buffer that starts mapped and runs past the end of the mapping.
    expect(call(HYPERVISOR.console_io, CONSOLEIO.write, 64, layout.mappedEnd - 8)).toBe(E('EFAULT'));
    expect(call(HYPERVISOR.console_io, CONSOLEIO.write, 8, 0xfffffffc)).toBe(E('EFAULT'));
    expect(console).toEqual([]);
  });

  it('rejects oversized writes, unknown sub-ops and reads from an unprivileged domain', () => {
    const { call } = setup();
    expect(call(HYPERVISOR.console_io, CONSOLEIO.write, 1 << 20, BUF)).toBe(E('E2BIG'));
    expect(call(HYPERVISOR.console_io, CONSOLEIO.write, -1 >>> 0, BUF)).toBe(E('EINVAL'));
    expect(call(HYPERVISOR.console_io, 7, 1, BUF)).toBe(E('ENOSYS'));
    expect(call(HYPERVISOR.console_io, CONSOLEIO.read, 16, BUF)).toBe(E('EPERM'));
  });

  it('lets the privileged domain read queued console input', () => {
    const { call, hv, get } = setup(true);
    hv.consoleInputPush(new TextEncoder().encode('xl'));
    expect(call(HYPERVISOR.console_io, CONSOLEIO.read, 16, BUF)).toBe(2);
    expect(new TextDecoder().decode(get(BUF, 2))).toBe('xl');
    expect(call(HYPERVISOR.console_io, CONSOLEIO.read, 16, BUF)).toBe(0);
  });
});

describe('sched_op', () => {
  for (const reason of ['poweroff', 'reboot', 'crash', 'watchdog'] as const) {
    it(`shutdown(${reason}) records the reason and stops the domain`, () => {
      const { call, put, domain } = setup();
      put(BUF, u32Bytes(SHUTDOWN[reason]));
      expect(call(HYPERVISOR.sched_op, SCHEDOP.shutdown, BUF)).toBe(0);
      expect(domain.shutdownReason).toBe(reason);
      expect(domain.state).toBe(reason === 'crash' ? 'crashed' : 'shutdown');
    });
  }

  it('shutdown with a bad pointer or an unknown reason fails and leaves the domain running', () => {
    const { call, put, domain } = setup();
    expect(call(HYPERVISOR.sched_op, SCHEDOP.shutdown, UNMAPPED)).toBe(E('EFAULT'));
    put(BUF, u32Bytes(99));
    expect(call(HYPERVISOR.sched_op, SCHEDOP.shutdown, BUF)).toBe(E('EINVAL'));
    expect(domain.state).toBe('running');
  });

  it('yield succeeds; unknown sub-ops are -ENOSYS', () => {
    const { call } = setup();
    expect(call(HYPERVISOR.sched_op, SCHEDOP.yield, 0)).toBe(0);
    expect(call(HYPERVISOR.sched_op, 1000, 0)).toBe(E('ENOSYS'));
  });
});

describe('xen_version', () => {
  it('reports Xen 4.17 and fills the fixed-size buffers', () => {
    const { call, get } = setup();
    expect(call(HYPERVISOR.xen_version, XENVER.version, 0)).toBe((4 << 16) | 17);
    expect(call(HYPERVISOR.xen_version, XENVER.extraversion, BUF)).toBe(0);
    expect(new TextDecoder().decode(get(BUF, 8))).toBe('.0-pvsim');
    expect(get(BUF, 16)[15]).toBe(0);
    expect(call(HYPERVISOR.xen_version, XENVER.capabilities, BUF)).toBe(0);
    expect(new TextDecoder().decode(get(BUF, 15))).toBe('xen-3.0-riscv32');
    expect(call(HYPERVISOR.xen_version, XENVER.pagesize, 0)).toBe(4096);
    expect(call(HYPERVISOR.xen_version, XENVER.platform_parameters, BUF)).toBe(0);
    expect(new DataView(get(BUF, 4).buffer).getUint32(0, true)).toBe(0xffc00000);
  });

  it('answers bad pointers with -EFAULT, including read-only destinations', () => {
    const { call, layout } = setup();
    expect(call(HYPERVISOR.xen_version, XENVER.extraversion, UNMAPPED)).toBe(E('EFAULT'));
    expect(call(HYPERVISOR.xen_version, XENVER.capabilities, layout.ptVa)).toBe(E('EFAULT'));
    expect(call(HYPERVISOR.xen_version, XENVER.get_features, UNMAPPED)).toBe(E('EFAULT'));
  });

  it('keeps the hypervisor command line from unprivileged domains', () => {
    expect(setup(false).call(HYPERVISOR.xen_version, XENVER.commandline, BUF)).toBe(E('EPERM'));
    const dom0 = setup(true);
    expect(dom0.call(HYPERVISOR.xen_version, XENVER.commandline, BUF)).toBe(0);
    expect(new TextDecoder().decode(dom0.get(BUF, 10))).toBe('loglvl=all');
  });

  it('reports XENFEAT_dom0 only to the privileged domain', () => {
    for (const privileged of [false, true]) {
      const { call, put, get } = setup(privileged);
      put(BUF, u32Bytes(0, 0xdead));
      expect(call(HYPERVISOR.xen_version, XENVER.get_features, BUF)).toBe(0);
      expect(new Uint32Array(get(BUF, 8).buffer)[1]).toBe(privileged ? 1 << 11 : 0);
    }
  });

  it('answers unknown sub-ops with -ENOSYS', () => {
    expect(setup().call(HYPERVISOR.xen_version, 77, BUF)).toBe(E('ENOSYS'));
  });
});

describe('hypercall table', () => {
  it('answers unknown and not-yet-served hypercall numbers with -ENOSYS', () => {
    const { call } = setup();
    expect(call(200)).toBe(E('ENOSYS'));
    expect(call(0xffffffff)).toBe(E('ENOSYS'));
    expect(call(HYPERVISOR.iret)).toBe(E('ENOSYS'));
  });
});
