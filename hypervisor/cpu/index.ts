// The guest CPU: hart state, engines and the memory they run against.
export * from './csr.ts';
export * from './engine.ts';
export * from './hart.ts';
export * from './interpreter.ts';
export * from './memory.ts';
export * from './mmu.ts';
export * from './pmp.ts';
export * from './trigger.ts';
export * from './engines.ts';
