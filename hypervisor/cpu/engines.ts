// Which engine executes guest instructions: the reference interpreter or the block translator.
// Both implement `Engine` and must give identical architectural state, instruction counts and
// virtual time, so the choice never changes a trace hash.
import type { Engine } from './engine.ts';
import { Interpreter } from './interpreter.ts';
import { Translator } from './jit/index.ts';

export const ENGINE_KINDS = ['interp', 'jit'] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];

/**
 * The engine used when neither `--cpu`, a scenario's `cpu` nor a domain's `cpu_engine` names
 * one: the block translator, since it passes the whole suite and the differential tests
 * (issue 17). `--cpu interp` selects the reference interpreter.
 */
export const DEFAULT_ENGINE: EngineKind = 'jit';

export function isEngineKind(s: string): s is EngineKind {
  return (ENGINE_KINDS as readonly string[]).includes(s);
}

export function createEngine(kind: EngineKind = DEFAULT_ENGINE): Engine {
  return kind === 'jit' ? new Translator() : new Interpreter();
}
