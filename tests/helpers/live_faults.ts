// What the live-run ring-fault tests share (tests/ring-faults.test.ts, tests/req-faults.test.ts):
// a blkfront domain and a netfront pair as scenarios carrying faults, a run that keeps each
// domain's console, and readers of work=blk's and work=net's result lines.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runScenario, type ScenarioResult } from '../../sim/scenario/runner.ts';
import { validateScenario } from '../../sim/scenario/schema.ts';

export const WORK = resolve('guests/build/work.elf');
export const VBD = 'vbd/51712';

/** A scenario as the tests write it (validated by the runner). */
export type ScenarioSpec = Record<string, unknown> & { domains: Record<string, unknown>[] };

export interface LiveFaultRig {
  /** The private directory disks and scenario files go to. */
  dir: string;
  /** One blkfront domain with a fresh disk image. */
  blk(faults: unknown[], opts?: { seed?: number; until?: string; cmdline?: string }): ScenarioSpec;
  /** Two work=net domains on xenbr0; `a` carries the faults, `b` may stream UDP at it. */
  netPair(faults: unknown[], opts?: { until?: string; pings?: number; seed?: number; udp?: number; size?: number }): ScenarioSpec;
  /** Validates and runs a scenario, keeping each domain's console text. */
  run(spec: unknown): Promise<{ out: Map<string, string>; r: ScenarioResult }>;
}

export function liveFaultRig(name: string): LiveFaultRig {
  const dir = mkdtempSync(join(tmpdir(), `pvsim-${name}-`));
  let n = 0;
  return {
    dir,
    blk: (faults, opts = {}) => ({
      name: `${name}-blk`, pcpus: 2, seed: opts.seed ?? 5, until: opts.until ?? '300ms',
      domains: [{ name: 'blk', image: WORK, cmdline: opts.cmdline ?? 'work=blk mode=rand bs=4096 qd=16 n=64', memory: 16, disk: [`file:${join(dir, `d${n++}.img`)},xvda,w`], faults }],
    }),
    netPair: (faults, opts = {}) => {
      const ping = opts.pings ?? 10;
      const udp = opts.udp ?? 0;
      return {
        name: `${name}-net`, pcpus: 2, seed: opts.seed ?? 4, until: opts.until ?? '300ms',
        domains: [
          { name: 'a', image: WORK, cmdline: `work=net ip=10.0.0.1 peer=10.0.0.2 ping=${ping} udp=0`, memory: 16, vif: ['mac=00:16:3e:00:00:01,bridge=xenbr0'], faults },
          { name: 'b', image: WORK, cmdline: `work=net ip=10.0.0.2 peer=10.0.0.1 ping=${ping} udp=${udp}${opts.size ? ` size=${opts.size}` : ''}`, memory: 16, vif: ['mac=00:16:3e:00:00:02,bridge=xenbr0'] },
        ],
      };
    },
    async run(spec) {
      const out = new Map<string, string>();
      const r = await runScenario(validateScenario(spec, join(dir, 'f.json')), {
        baseDir: dir,
        onConsole: (d, b) => out.set(d.name, (out.get(d.name) ?? '') + new TextDecoder().decode(b)),
      });
      return { out, r };
    },
  };
}

/** work=blk's result: errors, elapsed ns and whether the data read back matched. */
export function blkResult(text: string): { errors: number; ns: number; dataOk: boolean } | null {
  const m = /work=blk .*errors=(\d+) ns=(\d+).* checksum=(\S+) result=(\S+) check=(\S+)/.exec(text);
  return m ? { errors: Number(m[1]), ns: Number(m[2]), dataOk: m[3] === m[4] && m[4] === m[5] } : null;
}

/** work=net's result: pings, replies, lost, tx_errors. */
export const netResult = (text: string) => /work=net .*pings=(\d+) replies=(\d+) lost=(\d+).* tx_errors=(\d+)/.exec(text)?.slice(1).map(Number) ?? null;

/** Faults injected into domain `name`, by device and kind. */
export const injected = (r: ScenarioResult, name: string) => r.domains.find((d) => d.name === name)!.faults!.injected;
