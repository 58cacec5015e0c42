// The protocol conformance suites, by name: what `pvsim ringtest <suite>` runs, against
// pvsim's own backend or a user's module. A user's module names its subject:
//   blkif, netif: the default export, a pvsim/driver backend (defineBackend); its
//     `protocol.backendKeys`, if any, are the backend directory's keys (blkif: a fresh
//     image per case is made when it names no `params`); netif frames through an exported
//     `netifTap` (a NetifTap, or a function of the driver returning one).
//   console: an exported `consoleBackend` (ConsoleSubject); xenstore: an exported
//     `xenstoreServer` (XenstoreSubject). The default export is tried when the name is absent.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { BackendUnderTest } from '../harness.ts';
import type { ConformanceResult } from './common.ts';
import { BLKIF_CASES, blkifConformance } from './blkif.ts';
import { CONSOLE_CASES, consoleConformance, pvsimConsole, type ConsoleSubject } from './console.ts';
import { NETIF_CASES, netifConformance, pvsimNetback, type NetifSubject, type NetifTap } from './netif.ts';
import { XENSTORE_CASES, pvsimXenstored, xenstoreConformance, type XenstoreSubject } from './xenstore.ts';
import { HANDSHAKE_CASES } from './xenbus.ts';
import { RING_CASES } from '../harness.ts';

export const PROTOCOL_SUITES = ['blkif', 'netif', 'console', 'xenstore'] as const;
export type ProtocolSuite = (typeof PROTOCOL_SUITES)[number];

export type { ConformanceResult } from './common.ts';

/** The suites' own cases (handshake and ring cases counted apart). */
export const SUITE_CASES = { blkif: BLKIF_CASES.length, netif: NETIF_CASES.length, console: CONSOLE_CASES.length, xenstore: XENSTORE_CASES.length, handshake: HANDSHAKE_CASES.length, ring: RING_CASES.length + 4 } as const;

export class SuiteLoadError extends Error {
  override readonly name = 'SuiteLoadError';
}

async function importModule(path: string): Promise<Record<string, unknown>> {
  const { tsImport } = await import('tsx/esm/api');
  try {
    return (await tsImport(resolve(path), import.meta.url)) as Record<string, unknown>;
  } catch (e) {
    throw new SuiteLoadError(`cannot load ${resolve(path)}: ${(e as Error).message}`);
  }
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/**
 * Runs `suite` against pvsim's own backend (no module) or the module at `modulePath`;
 * `only` runs the one case of that name. Scratch images live in a private directory,
 * removed at the end.
 */
export async function runProtocolSuite(suite: ProtocolSuite, modulePath?: string, only?: string): Promise<ConformanceResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'pvsim-ringtest-'));
  try {
    if (suite === 'blkif' || suite === 'netif') {
      let def: BackendUnderTest;
      let keys: Record<string, string> = {};
      let exports: Record<string, unknown> = {};
      if (modulePath) {
        const { loadBackendNamespace } = await import('../../../dom0/driver/host.ts');
        const ns = await loadBackendNamespace(modulePath).catch((e: unknown) => {
          throw new SuiteLoadError((e as Error).message);
        });
        def = ns.backend;
        exports = ns.exports;
        const p = exports.protocol;
        if (isObj(p) && isObj(p.backendKeys)) keys = Object.fromEntries(Object.entries(p.backendKeys).map(([k, v]) => [k, String(v)]));
      } else if (suite === 'blkif') {
        const { BlkbackDriver } = await import('../../../dom0/backends/blk/driver.ts');
        def = { type: 'vbd', make: (p, k) => new BlkbackDriver(p, k) };
        keys = { mode: 'w', size: String(1024 * 1024) };
      } else return await netifConformance(await pvsimNetback(), only);
      if (suite === 'blkif') {
        let n = 0;
        const backendKeys = () => (keys.params ? { ...keys } : { mode: 'w', size: String(1024 * 1024), ...keys, params: join(dir, `disk${n++}.img`) });
        return await blkifConformance({ def, backendKeys }, only);
      }
      const t = exports.netifTap;
      const subject: NetifSubject = { def, backendKeys: keys };
      if (typeof t === 'function') subject.tap = (d) => (t as (d: unknown) => NetifTap)(d);
      else if (isObj(t)) subject.tap = () => t as unknown as NetifTap;
      return await netifConformance(subject, only);
    }
    if (suite === 'console') {
      const s = modulePath ? pick<ConsoleSubject>(await importModule(modulePath), 'consoleBackend', modulePath) : await pvsimConsole();
      return await consoleConformance(s, only);
    }
    const s = modulePath ? pick<XenstoreSubject>(await importModule(modulePath), 'xenstoreServer', modulePath) : await pvsimXenstored();
    return await xenstoreConformance(s, only);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function pick<T>(ns: Record<string, unknown>, name: string, path: string): T {
  const v = ns[name] ?? ns.default;
  if (!isObj(v) || typeof v.attach !== 'function') throw new SuiteLoadError(`${path} exports no \`${name}\` (an object with attach(page, notify))`);
  return v as T;
}
