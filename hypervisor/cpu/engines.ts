// Which engine executes guest instructions: the reference interpreter or the block translator.
// Both implement `Engine` and must give identical architectural state, instruction counts and
// virtual time, so the choice never changes a trace hash.
import type { Engine } from './engine.ts';
import { Interpreter } from './interpreter.ts';
import { Translator } from './jit/index.ts';

export const ENGINE_KINDS = ['interp', 'jit'] as const;
export type EngineKind = (typeof ENGINE_KINDS)[number];

export function createEngine(kind: EngineKind): Engine {
  return kind === 'jit' ? new Translator() : new Interpreter();
}
