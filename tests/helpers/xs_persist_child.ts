// A process that changes a persisted XenStore as fast as it can and records the number of
// each change once flush() has returned (the point where dom0 would let a reply be seen),
// for tests/hostile/xenstore.test.ts to kill -9 at any moment. argv: <state file>.
// The number goes to <state file>.ack with a synchronous write (exact when killed); stdout
// gets it too, possibly late, for the test to know when to kill.

import { openSync, writeSync } from 'node:fs';
import { Xenstored } from '../../dom0/xenstore/index.ts';
import { XenstoreStateFile } from '../../dom0/xenstore/persist.ts';
import { persistChange } from './xs_persist_ops.ts';

const file = process.argv[2]!;
const xsd = new Xenstored();
const state = new XenstoreStateFile(file, xsd);
state.track();
const ack = openSync(`${file}.ack`, 'w');
const n = Buffer.alloc(4);
for (let i = 1; ; i++) {
  persistChange(xsd, i);
  state.flush();
  n.writeUInt32LE(i);
  writeSync(ack, n, 0, 4, 0);
  if (i % 100 === 0) process.stdout.write(`${i}\n`);
}
