// `pvsim xl top`: xentop against a running pvsim. On a terminal, full screen as xentop's
// curses mode (alternate screen, the summary, the table, the key line at the bottom; keys
// as xentop's handle_key); with -b, xentop's batch output (the table each iteration, no
// summary). The terminal is given back on q/Esc, Ctrl-C, SIGTERM/SIGHUP, -i running out
// and the pvsim run ending. The formatting is dom0/toolstack/xentop.ts.

import type { Peer } from '../protocol/session.ts';
import { defaultView, sampleXentop, xentopBatch, xentopBottomLine, xentopSummary, xentopTable, XENTOP_FIELDS, type Line, type XentopSample, type XentopView } from '../dom0/toolstack/xentop.ts';

export interface TopOptions {
  /** Seconds between updates; undefined: xentop's 3 (1 for the one-frame form off a terminal). */
  delay?: number;
  batch: boolean;
  /** Frames before exiting; 0 or undefined: until quit. */
  iterations?: number;
  vcpus: boolean;
  networks: boolean;
  vbds: boolean;
  repeatHeader: boolean;
  fullName: boolean;
  dom0First: boolean;
}

export class TopError extends Error {}

/** The version xentop reports (-V). */
export const XENTOP_VERSION = '1.0';

const XENTOP_DELAY_S = 3;
/** curses' halfdelay(5) in xentop: keys are looked at every half second at least. */
const MIN_INTERACTIVE_MS = 500;

function viewOf(o: TopOptions): XentopView {
  return { ...defaultView(), showVcpus: o.vcpus, showNetworks: o.networks, showVbds: o.vbds, repeatHeader: o.repeatHeader, fullName: o.fullName, dom0First: o.dom0First };
}

/** Resolves after `ms`, or at once when `signal` fires. */
function pause(ms: number, wakers: Set<() => void>): Promise<void> {
  return new Promise((res) => {
    const done = () => {
      clearTimeout(t);
      wakers.delete(done);
      res();
    };
    const t = setTimeout(done, ms);
    wakers.add(done);
  });
}

/** SIGINT/SIGTERM/SIGHUP call `fn` while installed (instead of killing the process); returns the uninstaller. */
function onSignals(fn: () => void): () => void {
  const sigs: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of sigs) process.on(s, fn);
  return () => {
    for (const s of sigs) process.off(s, fn);
  };
}

/**
 * xentop -b: the table every `delay` seconds, `iterations` times (forever when 0), CPU(%)
 * 0.0 in the first as xentop's; SIGINT/SIGTERM end it after the current frame.
 */
async function batch(p: Peer, o: TopOptions, out: (s: string) => void): Promise<void> {
  const view = viewOf(o);
  const delayMs = (o.delay ?? XENTOP_DELAY_S) * 1000;
  const wakers = new Set<() => void>();
  let stop = false;
  const off = onSignals(() => {
    stop = true;
    for (const w of [...wakers]) w();
  });
  // The reader went away (`| head`): stop quietly, as xentop dies of SIGPIPE, with no trace.
  const onError = (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    stop = true;
    for (const w of [...wakers]) w();
  };
  process.stdout.on('error', onError);
  try {
    let before: XentopSample | undefined;
    for (let n = 1; !stop; n++) {
      const now = await sampleXentop(p, { dom0: true, vcpus: view.showVcpus });
      if (stop) break;
      out(xentopBatch(now, before, view));
      before = now;
      if (o.iterations && n >= o.iterations) break;
      await pause(delayMs, wakers);
    }
  } finally {
    off();
    process.stdout.off('error', onError);
  }
}

/**
 * Off a terminal without -b: one table, CPU(%) measured over the `delay` seconds before it
 * (what `pvsim xl top` printed before it was interactive; scripts that want xentop's own
 * first-frame 0.0 use -b).
 */
async function oneFrame(p: Peer, o: TopOptions, out: (s: string) => void): Promise<void> {
  const view = viewOf(o);
  const before = await sampleXentop(p, { dom0: true, vcpus: view.showVcpus });
  await new Promise((r) => setTimeout(r, (o.delay ?? 1) * 1000));
  out(xentopBatch(await sampleXentop(p, { dom0: true, vcpus: view.showVcpus }), before, view));
}

// --- the terminal -------------------------------------------------------------------------

const CSI = '\x1b[';
const ENTER_SCREEN = `${CSI}?1049h${CSI}?25l${CSI}H${CSI}2J`; // alternate screen, no cursor
const LEAVE_SCREEN = `${CSI}0m${CSI}?25h${CSI}?1049l`;

function spanText(l: Line): string {
  let s = '';
  for (const sp of l) {
    const attrs = [sp.reverse ? '7' : '', sp.bold ? '1' : '', sp.hilite ? '43' : ''].filter(Boolean);
    s += attrs.length ? `${CSI}0;${attrs.join(';')}m${sp.text}${CSI}0m` : sp.text;
  }
  return s;
}

/** A line cut into screen rows of `cols` characters, as curses wraps a long printw. */
function wrap(l: Line, cols: number): Line[] {
  // A width under one column would cut nothing from the text and loop for ever.
  cols = Math.max(1, Math.floor(cols) || 1);
  const out: Line[] = [[]];
  let used = 0;
  for (const sp of l) {
    let text = sp.text;
    while (text.length) {
      if (used === cols) {
        out.push([]);
        used = 0;
      }
      const take = text.slice(0, cols - used);
      out[out.length - 1]!.push({ ...sp, text: take });
      used += take.length;
      text = text.slice(take.length);
    }
  }
  return out;
}

/** The whole screen: summary, table (cut at the last row but one, as xentop's print), key line or prompt at the bottom. */
export function drawScreen(now: XentopSample, before: XentopSample | undefined, view: XentopView, prompt: string | null, cols: number, rows: number): string {
  const logical: Line[] = [...xentopSummary(now).map((t): Line => [{ text: t }]), ...xentopTable(now, before, view)];
  const screen: Line[] = [];
  for (const l of logical) for (const r of wrap(l, cols)) screen.push(r);
  const body = screen.slice(0, Math.max(0, rows - 1));
  let s = `${CSI}H`;
  body.forEach((l, i) => {
    s += `${CSI}${i + 1};1H${spanText(l)}${CSI}K`;
  });
  s += `${CSI}${body.length + 1};1H${CSI}J`;
  const bottom: Line = prompt !== null ? [{ text: prompt }] : xentopBottomLine(view);
  s += `${CSI}${rows};3H${spanText(wrap(bottom, Math.max(1, cols - 2))[0]!)}${CSI}K`;
  return s;
}

/** What one key does (xentop's handle_key); returns false to quit. */
export interface KeyState {
  view: XentopView;
  delayS: number;
  /** The Delay(sec) prompt's text while it is open. */
  prompt: string | null;
}

/**
 * Feeds `chunk` (raw terminal input) to the key state; returns false on a quit key.
 * Arrow keys arrive as ESC [ A/B (or ESC O A/B); an ESC alone quits (or leaves the prompt).
 */
export function handleKeys(st: KeyState, chunk: string): boolean {
  for (let i = 0; i < chunk.length; i++) {
    const ch = chunk[i]!;
    if (ch === '\x1b' && (chunk[i + 1] === '[' || chunk[i + 1] === 'O')) {
      const code = chunk[i + 2];
      i += 2;
      while (i < chunk.length && !/[A-Za-z~]/.test(chunk[i]!)) i++; // the rest of the sequence
      if (st.prompt !== null) continue;
      if (code === 'A' && st.view.firstDomain > 0) st.view.firstDomain--;
      if (code === 'B') st.view.firstDomain++;
      continue;
    }
    if (ch === '\x03') return false; // Ctrl-C: the terminal is raw, so it arrives as a key
    if (st.prompt !== null) {
      if (ch === '\r' || ch === '\n') {
        const v = Number.parseFloat(st.prompt);
        if (v > 0 && v <= 3600) st.delayS = v; // xentop keeps the delay it had for anything else
        st.prompt = null;
      } else if (ch === '\x1b') st.prompt = null;
      else if (ch === '\x7f' || ch === '\b') st.prompt = st.prompt.slice(0, -1);
      else if (ch >= ' ' && ch <= '~' && st.prompt.length < 79) st.prompt += ch;
      continue;
    }
    switch (ch.toLowerCase()) {
      case 'n':
        st.view.showNetworks = !st.view.showNetworks;
        break;
      case 'b':
        st.view.showVbds = !st.view.showVbds;
        break;
      case 'r':
        st.view.repeatHeader = !st.view.repeatHeader;
        break;
      case 's':
        st.view.sortField = (st.view.sortField + 1) % XENTOP_FIELDS.length;
        break;
      case 'v':
        st.view.showVcpus = !st.view.showVcpus;
        break;
      case 'd':
        st.prompt = '';
        break;
      case 'q':
      case '\x1b':
        return false;
    }
  }
  return true;
}

async function interactive(p: Peer, o: TopOptions): Promise<void> {
  const stdout = process.stdout;
  const stdin = process.stdin;
  const st: KeyState = { view: viewOf(o), delayS: o.delay ?? XENTOP_DELAY_S, prompt: null };
  const wakers = new Set<() => void>();
  const wake = () => {
    for (const w of [...wakers]) w();
  };
  let quit = false;
  let ended: string | null = null;
  let repaint = false;
  let last: { now: XentopSample; before: XentopSample | undefined } | null = null;
  const redraw = () => {
    if (last) stdout.write((repaint ? `${CSI}2J` : '') + drawScreen(last.now, last.before, st.view, st.prompt === null ? null : `Delay(sec): ${st.prompt}`, stdout.columns || 80, stdout.rows || 24));
    repaint = false;
  };
  const onKey = (b: Buffer) => {
    const s = b.toString('latin1');
    if (s.includes('\x0c')) repaint = true; // Ctrl-L
    if (!handleKeys(st, s)) quit = true;
    wake(); // as xentop: any key draws a new frame at once
  };
  const leave = () => {
    stdin.off('data', onKey);
    stdout.off('resize', redraw);
    if (stdin.isTTY) stdin.setRawMode(false);
    stdin.pause();
    stdout.write(LEAVE_SCREEN);
  };
  // Whatever ends the process, the terminal is given back first.
  const atExit = () => stdout.write(LEAVE_SCREEN);
  process.once('exit', atExit);
  const offSignals = onSignals(() => {
    quit = true;
    wake();
  });
  p.onClose = (why) => {
    ended = why;
    wake();
  };
  stdout.write(ENTER_SCREEN);
  if (stdin.isTTY) stdin.setRawMode(true);
  stdin.on('data', onKey);
  stdin.resume();
  stdout.on('resize', redraw);
  try {
    let before: XentopSample | undefined;
    for (let n = 1; !quit && ended === null; n++) {
      let now: XentopSample;
      try {
        now = await sampleXentop(p, { dom0: true, vcpus: st.view.showVcpus });
      } catch (e) {
        if (quit || ended !== null) break;
        throw e;
      }
      if (quit) break;
      last = { now, before };
      redraw();
      before = now;
      if (o.iterations && n >= o.iterations) break;
      await pause(Math.max(MIN_INTERACTIVE_MS, st.delayS * 1000), wakers);
    }
  } finally {
    offSignals();
    process.off('exit', atExit);
    leave();
  }
  if (ended !== null) throw new TopError(`the pvsim run ended (${ended})`);
}

/** `pvsim xl top` with its options; `out` takes batch output. */
export async function xlTop(p: Peer, o: TopOptions, out: (s: string) => void): Promise<void> {
  if (o.batch) return batch(p, o, out);
  if (!process.stdout.isTTY) return oneFrame(p, o, out);
  return interactive(p, o);
}
