// The scenario file format (JSON), validated with zod so that an error names the field.
// See docs/scenarios.md.

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseDuration } from './duration.ts';
import { MAX_MACHINE_MEMORY_MIB } from '../../hypervisor/mm/frame_table.ts';

const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try {
    return parseDuration(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});

export const DomainSpec = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'names are 1-64 of A-Z a-z 0-9 _ . -'),
    image: z.string().min(1),
    cmdline: z.string().max(1023).default(''),
    /** MiB, as xl.cfg's memory=. */
    memory: z.number().int().min(1).max(4096).default(16),
    vcpus: z.number().int().min(1).max(32).default(1),
    weight: z.number().int().min(1).max(65535).default(256),
    /** Percent of one pCPU; 0 = none (xl sched-credit -c). */
    cap: z.number().int().min(0).max(25600).default(0),
    /** How many alike domains to create; names get -1, -2, ... */
    count: z.number().int().min(1).max(10000).default(1),
    /** Virtual time at which the domain is unpaused. */
    start: duration.optional(),
    /** xl.cfg disk specs ('file:disk-{index}.img,xvda,w'); paths relative to the scenario. */
    disk: z.array(z.string().min(1)).max(16).default([]),
    /** xl.cfg vif specs ('mac=00:16:3e:00:00:01,bridge=xenbr0'); no mac: one from the name. */
    vif: z.array(z.string()).max(8).default([]),
  })
  .strict();

export const ScenarioSpec = z
  .object({
    name: z.string().optional(),
    description: z.string().optional(),
    pcpus: z.number().int().min(1).max(256).default(1),
    scheduler: z.enum(['credit', 'rr']).default('credit'),
    /** Machine memory in MiB. */
    machineMemory: z.number().int().min(16).max(MAX_MACHINE_MEMORY_MIB).default(8192),
    seed: z.number().int().min(0).max(2 ** 32 - 1).default(1),
    until: duration.default(1e9),
    domains: z.array(DomainSpec).min(1),
  })
  .strict();

export type Scenario = z.output<typeof ScenarioSpec>;
export type DomainSpecT = z.output<typeof DomainSpec>;

export class ScenarioError extends Error {
  override readonly name = 'ScenarioError';
}

function where(path: PropertyKey[]): string {
  return path.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${String(k)}` : String(k)), '') || '(top level)';
}

/** Validates parsed JSON; every problem is reported as `<file>: <field>: <message>`. */
export function validateScenario(data: unknown, file: string): Scenario {
  const r = ScenarioSpec.safeParse(data);
  if (r.success) return r.data;
  throw new ScenarioError(r.error.issues.map((i) => `${file}: ${where(i.path)}: ${i.message}`).join('\n'));
}

export function loadScenario(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ScenarioError(`${file}: cannot read: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ScenarioError(`${file}: not valid JSON: ${(e as Error).message}`);
  }
  return validateScenario(data, file);
}
