// Full virtualization in `npm run bench`: the same guest workloads as a PV domain (work.elf)
// and as an HVM domain (native.elf) under trap-and-emulate and under the H extension.
//   interp_mips_pv_work / interp_mips_hvm_trap / interp_mips_hvm_hw: wall-clock MIPS of
//     work=cpu (bench/workload.c, the compute mix interp_mips runs bare), guest instructions
//     retired over the wall time of the whole run;
//   <figure>_ns_{pv,trap,hw}: virtual ns from the guest's own result line (syscall:
//     ns_per_call; pte_update: ns per PTE update = ns_per_uvm_cycle / 2, a map and an
//     unmap per cycle, touch included; page_fault: ns_per_fault; ctxsw: ns_per_switch);
//   exits_per_kinstr_{trap,hw}: HVM exits per 1,000 guest instructions over those runs.
// Run directly: `npx tsx bench/fullvirt.ts` (JSON on stdout).

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Hypervisor } from '../hypervisor/hypervisor.ts';
import type { Domain } from '../hypervisor/domain/domain.ts';
import type { HvmBoard } from '../hypervisor/hvm/board.ts';

export type FullvirtMode = 'pv' | 'trap' | 'hw';
export const FULLVIRT_MODES: readonly FullvirtMode[] = ['pv', 'trap', 'hw'];

/** A workload line's fields (key=value pairs) and what the run cost. */
export interface WorkRun {
  fields: Record<string, string>;
  instructions: number;
  exits: number;
  wallSeconds: number;
}

const WORK = 'guests/build/work.elf';
const NATIVE = 'guests/build/native.elf';

/** Runs `cmdline` once as a PV (work.elf) or HVM (native.elf) domain alone on a machine. */
export function runWorkload(mode: FullvirtMode, cmdline: string): WorkRun {
  // The interpreter, as the keys' names (interp_mips_*) say, whatever the default engine is:
  // these figures compare the modes' exit costs and stay comparable with earlier runs.
  const hv = new Hypervisor({ machineMemoryBytes: 256 << 20, cpu: 'interp' });
  let out = '';
  hv.onConsole = (_d, b) => (out += new TextDecoder().decode(b));
  const memoryBytes = 16 << 20;
  const d: Domain =
    mode === 'pv'
      ? hv.createPvDomain(readFileSync(WORK), { name: 'pv', memoryBytes, cmdline }).domain
      : hv.createHvmDomain(readFileSync(NATIVE), { name: mode, memoryBytes, cmdline, vcpus: 1, hvm: { mode, shadowSync: 'wp' } });
  hv.unpause(d);
  const t0 = performance.now();
  hv.run({ until: 600e9 });
  const wallSeconds = (performance.now() - t0) / 1000;
  const name = /work=(\S+)/.exec(cmdline)![1]!;
  const line = out.split('\n').find((l) => l.startsWith(`work=${name} `));
  if (d.shutdownReason !== 'poweroff' || !line) throw new Error(`${mode} ${cmdline}: ${d.shutdownReason ?? 'did not finish'}: ${out.slice(-300)}`);
  const fields: Record<string, string> = {};
  for (const m of line.matchAll(/(\w+)=(\S+)/g)) fields[m[1]!] = m[2]!;
  const instructions = d.vcpus.reduce((a, v) => a + v.hart.retired, 0);
  const exits = mode === 'pv' ? 0 : (d.hvm as HvmBoard).stats.exits;
  return { fields, instructions, exits, wallSeconds };
}

/** The figures: name -> [cmdline, (fields) => value]. */
const FIGURES: Record<string, [string, (f: Record<string, string>) => number]> = {
  syscall_ns: ['work=syscall n=2000', (f) => Number(f.ns_per_call)],
  pte_update_ns: ['work=pt n=500 batch=8', (f) => Number(f.ns_per_uvm_cycle) / 2],
  page_fault_ns: ['work=pgfault n=10 pages=64', (f) => Number(f.ns_per_fault)],
  ctxsw_ns: ['work=ctxsw n=1000', (f) => Number(f.ns_per_switch)],
};

export function fullvirtBench(log: (m: string) => void = () => {}): Record<string, number> {
  const r: Record<string, number> = {};
  const cpu = 'work=cpu n=300';
  for (const mode of FULLVIRT_MODES) {
    log(`fullvirt: ${cpu} as ${mode}...`);
    // Best of two: wall-clock figures on a shared machine.
    const runs = [runWorkload(mode, cpu), runWorkload(mode, cpu)];
    const mips = Math.max(...runs.map((x) => x.instructions / x.wallSeconds / 1e6));
    r[mode === 'pv' ? 'interp_mips_pv_work' : `interp_mips_hvm_${mode}`] = Number(mips.toFixed(1));
  }
  const exits = { trap: 0, hw: 0 };
  const instructions = { trap: 0, hw: 0 };
  for (const [key, [cmdline, value]] of Object.entries(FIGURES)) {
    for (const mode of FULLVIRT_MODES) {
      log(`fullvirt: ${cmdline} as ${mode}...`);
      let run: WorkRun;
      try {
        run = runWorkload(mode, cmdline);
      } catch (e) {
        // A workload this build's guests lack (an older image) is left out, not faked.
        log(`fullvirt: ${key}_${mode} skipped: ${(e as Error).message.split('\n')[0]}`);
        continue;
      }
      r[`${key}_${mode}`] = Math.round(value(run.fields));
      if (mode !== 'pv') {
        exits[mode] += run.exits;
        instructions[mode] += run.instructions;
      }
    }
  }
  r.exits_per_kinstr_trap = Number(((exits.trap / instructions.trap) * 1000).toFixed(2));
  r.exits_per_kinstr_hw = Number(((exits.hw / instructions.hw) * 1000).toFixed(2));
  return r;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(JSON.stringify(fullvirtBench((m) => process.stderr.write(m + '\n')), null, 2) + '\n');
}
