// Who decides which module dom0 runs for a user device type (pvsim/driver): two creates
// naming different modules for the same type at the same time must not both succeed with
// the first one's module serving the second's devices.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Hypervisor } from '../../hypervisor/hypervisor.ts';
import { startLocalDom0 } from '../../sim/local.ts';
import { addDevice } from '../../dom0/toolstack/devices.ts';

const MiB = 1024 * 1024;
const ECHO = join(import.meta.dirname, '..', '..', 'examples', 'echodev', 'echodev.ts');
const TWIN = join(import.meta.dirname, '..', 'fixtures', 'ringkit', 'echo-twin.ts');

describe('user backends: one module per device type', () => {
  it('two loads of different modules for one type at once: the second is refused, not served by the first', async () => {
    const daemons = startLocalDom0(new Hypervisor({ machineMemoryBytes: 16 * MiB }));
    const [a, b] = await Promise.allSettled([daemons.loadUserBackend('echo', ECHO), daemons.loadUserBackend('echo', TWIN)]);
    expect(a.status).toBe('fulfilled');
    expect(b.status).toBe('rejected');
    expect((b as PromiseRejectedResult).reason.message).toBe(`device type echo is already served by ${ECHO}`);
    expect(daemons.userBackends.get('echo')?.path).toBe(ECHO);
    // The same module again, at once or later, is the same driver.
    const [c, d] = await Promise.all([daemons.loadUserBackend('echo', ECHO), daemons.loadUserBackend('echo', ECHO)]);
    expect(c).toBe(d);
  });

  it('a guest cannot name the module: it may not write its backend\'s driver key nor make a backend directory of its own', () => {
    const daemons = startLocalDom0(new Hypervisor({ machineMemoryBytes: 16 * MiB }));
    const domid = 7;
    expect(addDevice(daemons.xs, domid, { kind: 'echo', devid: 0, backend: { driver: ECHO }, frontend: {} }).ok).toBe(true);
    const guest = { domid, privileged: false };
    const store = daemons.xenstored.store;
    const evil = new TextEncoder().encode('/tmp/evil.ts');
    const be = `/local/domain/0/backend/echo/${domid}/0`;
    expect(() => store.write(guest, `${be}/driver`, evil)).toThrow(/EACCES/);
    expect(() => store.write(guest, `/local/domain/0/backend/evil/${domid}/0/driver`, evil)).toThrow(/EACCES/);
    expect(() => store.write(guest, `/local/domain/0/backend/echo/${domid}/1/driver`, evil)).toThrow(/EACCES/);
    expect(new TextDecoder().decode(store.read(guest, `${be}/driver`))).toBe(ECHO); // it may read it, as Xen's frontends read their backend
    // Its own frontend directory it may write: dom0 never reads a module path from there.
    store.write(guest, `/local/domain/${domid}/device/echo/0/driver`, evil);
  });

  it('a module that never finishes loading, or throws anything at import, fails that create in bounded time; dom0 loads the next', async () => {
    const daemons = startLocalDom0(new Hypervisor({ machineMemoryBytes: 16 * MiB }));
    const t = performance.now();
    await expect(daemons.loadUserBackend('never', join(import.meta.dirname, '..', 'fixtures', 'ringkit', 'never-loads.ts'), { asyncBoundMs: 300 })).rejects.toThrow(/did not finish within 300 ms/);
    expect(performance.now() - t).toBeLessThan(5000);
    await expect(daemons.loadUserBackend('thrower', join(import.meta.dirname, '..', 'fixtures', 'ringkit', 'throws-at-import.ts'))).rejects.toThrow(/^cannot load .*throws-at-import\.ts: threw 42$/);
    expect(daemons.userBackends.size).toBe(0);
    await daemons.loadUserBackend('echo', ECHO);
    expect(daemons.userBackends.get('echo')?.path).toBe(ECHO);
  });
});
