// `pvsim xenstore <op> <path> [value]`: XenStore through dom0's WebSocket (pvsim's own
// client; Debian's xenstore-utils work on the Unix socket that `pvsim up` prints).

import { connect } from '../protocol/session.ts';
import { clientEndpoint, NotRunningError } from './runtime.ts';

const OPS = ['read', 'write', 'mkdir', 'rm', 'ls', 'get-perms', 'set-perms'] as const;

export async function xenstoreCommand(op: string, path: string, rest: string[]): Promise<number> {
  if (!(OPS as readonly string[]).includes(op)) {
    process.stderr.write(`pvsim xenstore: unknown operation "${op}" (one of ${OPS.join(', ')})\n`);
    return 2;
  }
  let peer;
  try {
    const { url, token, note } = clientEndpoint();
    if (note) process.stderr.write(`pvsim xenstore: ${note}\n`);
    peer = (await connect(url, 'client', token)).peer;
  } catch (e) {
    process.stderr.write(`pvsim xenstore: ${(e as Error).message}\n`);
    return e instanceof NotRunningError ? 1 : 1;
  }
  try {
    const r = await peer.request('xenstore', {
      op: op === 'ls' ? 'directory' : op,
      path,
      value: op === 'write' ? new TextEncoder().encode(rest.join(' ')) : undefined,
      perms: op === 'set-perms' ? rest : undefined,
    });
    if (r.rc !== 0) {
      process.stderr.write(`pvsim xenstore: ${op} ${path}: ${r.error}\n`);
      return 1;
    }
    if (r.xenstore?.value?.length || op === 'read') process.stdout.write(new TextDecoder().decode(r.xenstore?.value ?? new Uint8Array()) + '\n');
    for (const l of r.xenstore?.list ?? []) process.stdout.write(l + '\n');
    return 0;
  } finally {
    peer.close();
  }
}
