// `pvsim xl top` against a real `pvsim up`: driven full screen in a tmux pane (a real
// pseudo-terminal) and read back with capture-pane, keys sent as a user types them; and
// -b (xentop's batch output) read as plain text. Every wait is for something on the
// screen or in the output, with a deadline; the tmux server, `pvsim up` and what it
// started are ours and are killed after.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PVSIM, startUp, upChildren, xl, type RunningUp } from './helpers/pvsim_up.ts';
import { waitFor } from './helpers/procs.ts';
import { XENTOP_HEADERS } from '../dom0/toolstack/xentop.ts';

const TMUX = '/usr/bin/tmux';
const HAVE_TMUX = existsSync(TMUX);
if (!HAVE_TMUX && process.env.CI) throw new Error('CI needs tmux');

const dir = mkdtempSync(join(tmpdir(), 'pvsim-xltop-'));
const children = upChildren();
const SOCK = join(dir, 'tmux.sock');

function tmux(...args: string[]): string {
  const r = spawnSync(TMUX, ['-S', SOCK, '-f', '/dev/null', ...args], { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
afterAll(() => {
  if (existsSync(SOCK)) spawnSync(TMUX, ['-S', SOCK, 'kill-server'], { timeout: 10_000 });
});

/** The pane's text, lines without trailing blanks. */
const screen = () => tmux('capture-pane', '-p', '-t', 'top').replace(/ +$/gm, '');

/** Waits (bounded) until the screen satisfies `ok`; the last screen in the error otherwise. */
async function until(ok: (s: string) => boolean, what: string, ms = 20_000): Promise<string> {
  let s = '';
  const v = await waitFor(() => (ok((s = screen())) ? s : undefined), ms, 50);
  if (v === undefined) throw new Error(`screen never showed ${what}:\n${s}`);
  return v;
}

/** The domain names of the table's rows, top to bottom. */
const rowNames = (s: string) => [...s.matchAll(/^\s*(Domain-0|hog|blk)\s+[-dsbcpr]{6}\s/gm)].map((m) => m[1]);

function guests(u: RunningUp): void {
  const work = join(process.cwd(), 'guests/build/work.elf');
  writeFileSync(join(dir, 'hog.cfg'), `name = "hog"\nkernel = "${work}"\nextra = "work=spin"\nmemory = 4\n`);
  writeFileSync(
    join(dir, 'blk.cfg'),
    `name = "blk"\nkernel = "${work}"\nmemory = 16\non_poweroff = "preserve"\nextra = "work=blk mode=seq bs=65536 qd=4 n=16"\ndisk = [ 'file:${join(dir, 'blk.img')},xvda,w' ]\n`,
  );
  for (const g of ['hog', 'blk']) expect(xl(u, 'create', join(dir, `${g}.cfg`)).status).toBe(0);
}

describe('pvsim xl top', { timeout: 90_000 }, () => {
  it.skipIf(!HAVE_TMUX)('full screen in a terminal: summary, Domain-0 and guests, keys sort and toggle, q gives the shell back', async () => {
    const u = await startUp(['--pcpus', '2'], { tmpdir: dir, children });
    guests(u);
    // blk's 16 reads and writes done (it stays, shut down, preserved).
    await waitFor(() => /work=blk .*errors=0/.test(xl(u, 'dmesg').out) || undefined, 40_000, 100);
    // A shell in a 200x40 pane with the run's environment; xl top started from it.
    const env = Object.entries(u.env).map(([k, v]) => `${k}=${v}`);
    tmux('new-session', '-d', '-s', 'top', '-x', '200', '-y', '40', ...env.flatMap((e) => ['-e', e]), '-e', 'PS1=$ ', '/bin/sh');
    tmux('send-keys', '-t', 'top', `echo shell-before; ${process.execPath} ${PVSIM} xl top -d 1`, 'Enter');
    // Two frames: the second has CPU(%) over the second between them.
    let s = await until((x) => /^\s*hog\s+-----r\s+\d+\s+(?!0\.0)\d+\.\d\s/m.test(x), 'hog busy');
    expect(s).toMatch(/^xentop - \d\d:\d\d:\d\d {3}Xen \d+\.\d+/m);
    expect(s).toMatch(/^3 domains: \d running, \d blocked, 0 paused, 0 crashed, 0 dying, \d shutdown/m);
    expect(s).toMatch(/^Mem: \d+k total, \d+k used, \d+k free {4}CPUs: 2 @ 1000MHz$/m);
    expect(s).toContain('      NAME  STATE   CPU(sec) CPU(%)     MEM(k) MEM(%)  MAXMEM(k) MAXMEM(%) VCPUS NETS NETTX(k) NETRX(k) VBDS   VBD_OO   VBD_RD   VBD_WR  VBD_RSECT  VBD_WSECT SSID');
    // blk: one vbd, 16 reads and 16 writes of 128 sectors each; shut down (s).
    expect(s).toMatch(/^\s*blk\s+-s----\s+\d+\s+0\.0\s+16384\s+[\d.]+\s+16384\s+[\d.]+\s+1\s+0\s+0\s+0\s+1\s+0\s+16\s+16\s+2048\s+2048\s+0$/m);
    expect(s).toMatch(/^\s+Delay {2}Networks {2}vBds {2}VCPUs {2}Repeat header {2}Sort order {2}Quit$/m);
    // Sorted by NAME at start (case-insensitive, as strcasecmp).
    expect(rowNames(s)).toEqual(['blk', 'Domain-0', 'hog']);
    // S three times: NAME -> STATE -> CPU(sec) -> CPU(%), highest first: hog leads.
    tmux('send-keys', '-t', 'top', 'S', 'S', 'S');
    s = await until((x) => rowNames(x)[0] === 'hog', 'hog sorted first');
    // V: each domain gets its vCPU line; B: blk's vbd line (51712 = xvda, 202:0).
    tmux('send-keys', '-t', 'top', 'v', 'b');
    s = await until((x) => /^VCPUs\(sec\): {3}0: +\d+s$/m.test(x) && /^VBD BlkBack/m.test(x), 'vCPU and VBD lines');
    expect(s).toMatch(/^VBD BlkBack 51712 \[ca: 0\] {2}OO: +0 {3}RD: +16 {3}WR: +16 {3}RSECT: +2048 {3}WSECT: +2048$/m);
    // R: the header before every domain.
    tmux('send-keys', '-t', 'top', 'r');
    s = await until((x) => (x.match(/^\s+NAME\s+STATE/gm) ?? []).length === 3, 'three headers');
    // D: the delay prompt on the bottom line; Esc leaves it without quitting.
    tmux('send-keys', '-t', 'top', 'd', '2');
    s = await until((x) => /^\s+Delay\(sec\): 2$/m.test(x), 'the delay prompt');
    tmux('send-keys', '-t', 'top', 'Enter');
    await until((x) => /Sort order {2}Quit$/m.test(x), 'the key line back');
    // q: the alternate screen is left, the shell is back with what it showed before.
    tmux('send-keys', '-t', 'top', 'q');
    s = await until((x) => !/xentop - /.test(x) && /shell-before/.test(x), 'the shell back');
    tmux('send-keys', '-t', 'top', 'echo status-$?', 'Enter');
    await until((x) => /status-0$/m.test(x), 'exit status 0');
    // Ctrl-C ends it the same way; so does the run ending (pvsim up killed), with a message.
    tmux('send-keys', '-t', 'top', 'clear; xl_top() { ' + `${process.execPath} ${PVSIM} xl top -d 1; echo status-$?; }; xl_top`, 'Enter');
    await until((x) => /xentop - /.test(x), 'xl top again');
    tmux('send-keys', '-t', 'top', 'C-c');
    await until((x) => !/xentop - /.test(x) && /^status-0$/m.test(x), 'the shell back after Ctrl-C');
    tmux('send-keys', '-t', 'top', 'clear; xl_top', 'Enter');
    await until((x) => /xentop - /.test(x), 'xl top a third time');
    u.proc.kill('SIGTERM');
    s = await until((x) => !/xentop - /.test(x) && /^status-1$/m.test(x), 'the shell back when the run ends');
    expect(s).toMatch(/xl: top: the pvsim run ended/);
  });

  it('-b: xentop batch output, the table each iteration, no summary; CPU(%) 0.0 in the first as xentop', async () => {
    const u = await startUp(['--pcpus', '2'], { tmpdir: dir, children });
    writeFileSync(join(dir, 'hog.cfg'), `name = "hog"\nkernel = "${join(process.cwd(), 'guests/build/work.elf')}"\nextra = "work=spin"\nmemory = 4\n`);
    expect(xl(u, 'create', join(dir, 'hog.cfg')).status).toBe(0);
    const r = xl(u, 'top', '-b', '-i', '3', '-d', '0.5', '-v');
    expect(r.err).toBe('');
    expect(r.status).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    const headers = lines.filter((l) => /^\s+NAME\s+STATE/.test(l));
    expect(headers).toHaveLength(3);
    expect(headers[0]!.trim().split(/\s+/)).toEqual([...XENTOP_HEADERS]);
    expect(r.out).not.toMatch(/xentop -|domains:|Mem:|\x1b/); // no summary, no escapes
    // Each iteration: header, Domain-0 and hog (by name), each followed by its VCPUs line.
    expect(lines).toHaveLength(3 * 5);
    const hog = lines.filter((l) => /^\s+hog /.test(l)).map((l) => l.trim().split(/\s+/));
    expect(hog.map((c) => c[3])).toEqual(['0.0', expect.not.stringMatching(/^0\.0$/), expect.not.stringMatching(/^0\.0$/)]);
    expect(Number(hog[2]![3])).toBeGreaterThan(50); // a pure CPU hog on a pCPU of its own
    expect(hog[0]!.slice(1, 2)).toEqual(['-----r']);
    expect(lines.filter((l) => /^\s+Domain-0 /.test(l))).toHaveLength(3);
    expect(lines[4]).toMatch(/^VCPUs\(sec\): {3}0: +\d+s$/);
    // Forever without -i: SIGINT ends it after a whole frame, status 0; a reader that goes
    // away (`| head`) ends it quietly too.
    const forever = spawn(process.execPath, [PVSIM, 'xl', 'top', '-b', '-d', '0.2'], { env: { ...process.env, ...u.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(forever);
    let text = '';
    let errText = '';
    forever.stdout!.on('data', (b: Buffer) => (text += b.toString()));
    forever.stderr!.on('data', (b: Buffer) => (errText += b.toString()));
    const status = new Promise<number | null>((res) => forever.once('exit', (code) => res(code)));
    expect(await waitFor(() => (text.match(/NAME/g) ?? []).length >= 2, 20_000)).toBe(true);
    forever.kill('SIGINT');
    expect(await status).toBe(0);
    expect(errText).toBe('');
    expect(text).toMatch(/\n\s+hog [^\n]+\n$/);
    const head = spawn(process.execPath, [PVSIM, 'xl', 'top', '-b', '-d', '0.1'], { env: { ...process.env, ...u.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(head);
    let headErr = '';
    head.stderr!.on('data', (b: Buffer) => (headErr += b.toString()));
    const headStatus = new Promise<number | null>((res) => head.once('exit', (code) => res(code)));
    head.stdout!.once('data', () => head.stdout!.destroy());
    expect(await headStatus).toBe(0);
    expect(headErr).toBe('');
    expect(xl(u, 'top', '-V').out).toBe('xentop 1.0 (pvsim xl top)\n'); // as xentop -V: the version
    // Bad options: clear errors, nothing started.
    expect(xl(u, 'top', '-b', '-i', 'x').err).toMatch(/--iterations must be a non-negative integer/);
    expect(xl(u, 'top', '-b', '-d', '-1').status).not.toBe(0);
  });
});
