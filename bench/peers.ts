// Child processes for the cross-process benchmarks: `xenstored <socket>` serves XenStore on
// a Unix socket; `echo` serves a plain WebSocket echo. Each prints READY <info> when up.

import { WebSocketServer } from 'ws';
import { startXenstored } from '../dom0/xenstore/index.ts';

const [role, arg] = process.argv.slice(2);
if (role === 'xenstored') {
  await startXenstored({ socketPath: arg! });
  process.stdout.write('READY\n');
} else if (role === 'echo') {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  wss.on('connection', (ws) => ws.on('message', (d, bin) => ws.send(d, { binary: bin })));
  wss.on('listening', () => {
    const a = wss.address();
    process.stdout.write(`READY ${typeof a === 'object' && a ? a.port : 0}\n`);
  });
}
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
