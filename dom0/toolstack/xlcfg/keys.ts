// xl.cfg(5) domain configuration files, as `pvsim xl create` reads them.
//
// Two layers:
//  1. The syntax of xl's own config parser (libxlu): `key = value` statements ended by a
//     newline or `;`, `#` comments, values that are quoted strings, bare numbers or
//     `[ ... ]` lists (nested lists allowed, newlines and a trailing comma allowed inside),
//     and `key += value` to append to an earlier string or list. Every value is text: a bare
//     number is kept as written and only read as a number by the key that wants one, which
//     is why `memory = "512"` works in xl. The last assignment to a key wins.
//  2. The keys pvsim implements (a subset of xl's; any other key is an error, where xl
//     would silently ignore it), with xl's defaults, and the disk and vif spec strings.
//
// Every error is an XlCfgError whose message names the file and line, and the key where
// there is one:  guest.cfg:7: memory: expected an integer number of MiB, got "lots".
// See docs/xl.md.

import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { dirname, isAbsolute, resolve } from 'node:path';
import { MAX_GUEST_CMDLINE } from '../../../protocol/xen/start_info.ts';
import { XEN_LEGACY_MAX_VCPUS } from '../../../protocol/xen/shared_info.ts';
import { bridgeProblem, domainNameProblem, macProblem, XL_ACTIONS, type XlAction } from '../validate.ts';

// --- Errors -------------------------------------------------------------------------------

export class XlCfgError extends Error {
  override readonly name = 'XlCfgError';
  constructor(
    readonly file: string,
    /** 1-based line, or null for a problem with the file as a whole (a missing key). */
    readonly line: number | null,
    /** The key (`memory`, `disk[1]`), or null for a syntax error. */
    readonly key: string | null,
    readonly detail: string,
  ) {
    super(`${file}${line === null ? '' : `:${line}`}: ${key === null ? '' : `${key}: `}${detail}`);
  }
}

/** A bad disk or vif spec string, before the caller adds file, line and key. */
export class XlSpecError extends Error {
  override readonly name = 'XlSpecError';
}

const q = (s: string) => JSON.stringify(s);

// --- Layer 1: the syntax ------------------------------------------------------------------

export type XlValue =
  | { kind: 'string'; text: string; line: number }
  | { kind: 'list'; items: XlValue[]; line: number };

export interface XlSetting {
  key: string;
  op: '=' | '+=';
  value: XlValue;
  line: number;
}

export interface XlCfgSettings {
  /** Every assignment, in file order. */
  readonly assignments: readonly XlSetting[];
  /** What a lookup of each key sees: its last assignment, with `+=` already applied. */
  readonly settings: ReadonlyMap<string, XlSetting>;
}

type TokKind = 'ident' | 'number' | 'string' | 'newline' | 'eof' | '[' | ']' | ',' | '=' | '+=' | ';';
interface Tok {
  kind: TokKind;
  text: string;
  line: number;
}

const ESCAPES: Record<string, string> = {
  '"': '"',
  "'": "'",
  '\\': '\\',
  a: '\x07',
  b: '\b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
};

function describe(t: Tok): string {
  switch (t.kind) {
    case 'newline':
      return 'end of line';
    case 'eof':
      return 'end of file';
    case 'string':
      return `string ${q(t.text)}`;
    case 'number':
      return `number ${t.text}`;
    case 'ident':
      return q(t.text);
    default:
      return q(t.kind);
  }
}

/** The tokens of xl's lexer. Whitespace is space and tab (pvsim also takes CR before LF). */
function lex(text: string, file: string): Tok[] {
  const toks: Tok[] = [];
  const syntax = (line: number, msg: string): never => {
    throw new XlCfgError(file, line, null, `syntax error: ${msg}`);
  };
  let i = 0;
  let line = 1;
  const n = text.length;
  while (i < n) {
    const c = text[i]!;
    if (c === ' ' || c === '\t' || (c === '\r' && text[i + 1] === '\n')) {
      i++;
    } else if (c === '\n') {
      toks.push({ kind: 'newline', text: c, line });
      line++;
      i++;
    } else if (c === '#') {
      // A comment runs to the end of the line; the newline still ends the statement.
      while (i < n && text[i] !== '\n') i++;
    } else if (c >= 'a' && c <= 'z') {
      let j = i + 1;
      while (j < n && /[_0-9a-z]/.test(text[j]!)) j++;
      toks.push({ kind: 'ident', text: text.slice(i, j), line });
      i = j;
    } else if (c >= '0' && c <= '9') {
      // xl lexes [0-9][0-9a-fx]* as one number token and checks it only where it is used.
      let j = i + 1;
      while (j < n && /[0-9a-fx]/.test(text[j]!)) j++;
      toks.push({ kind: 'number', text: text.slice(i, j), line });
      i = j;
    } else if (c === "'" || c === '"') {
      let j = i + 1;
      let out = '';
      for (;;) {
        if (j >= n || text[j] === '\n') syntax(line, `unterminated string (a string must end on the line it starts; write \\n for a newline)`);
        const d = text[j]!;
        if (d === c) break;
        if (d === '\\') {
          const e = text[j + 1];
          if (e === undefined || e === '\n') syntax(line, 'unterminated string');
          const v = ESCAPES[e!];
          if (v !== undefined) out += v;
          else if (e === 'x' || (e! >= '0' && e! <= '7'))
            syntax(line, `numeric escape "\\${e}" in a string: xl mishandles \\x and octal escapes, so pvsim refuses them`);
          else syntax(line, `invalid escape "\\${e}" in a string (xl knows \\" \\' \\\\ \\a \\b \\f \\n \\r \\t \\v)`);
          j += 2;
        } else {
          out += d;
          j++;
        }
      }
      toks.push({ kind: 'string', text: out, line });
      i = j + 1;
    } else if (c === '+' && text[i + 1] === '=') {
      toks.push({ kind: '+=', text: '+=', line });
      i += 2;
    } else if (c === '[' || c === ']' || c === ',' || c === '=' || c === ';') {
      toks.push({ kind: c, text: c, line });
      i++;
    } else {
      let hint = '';
      const atStatementStart = toks.length === 0 || toks[toks.length - 1]!.kind === 'newline' || toks[toks.length - 1]!.kind === ';';
      if (c >= 'A' && c <= 'Z' && atStatementStart) hint = ' (keys are lower case)';
      else if ('+-.():'.includes(c)) hint = ' (xl.cfg is not Python: values are strings, numbers and lists)';
      syntax(line, `unexpected character ${q(c)}${hint}`);
    }
  }
  toks.push({ kind: 'eof', text: '', line });
  return toks;
}

/** Parses xl.cfg syntax into settings, without interpreting any key. */
export function parseXlCfgSettings(text: string, file: string): XlCfgSettings {
  const toks = lex(text, file);
  let pos = 0;
  const peek = () => toks[pos]!;
  const next = () => toks[pos < toks.length - 1 ? pos++ : pos]!;
  const syntax = (line: number, msg: string): never => {
    throw new XlCfgError(file, line, null, `syntax error: ${msg}`);
  };
  const skipNewlines = () => {
    while (peek().kind === 'newline') next();
  };

  const value = (key: string, op: string): XlValue => {
    const t = next();
    if (t.kind === 'string' || t.kind === 'number') return { kind: 'string', text: t.text, line: t.line };
    if (t.kind === '[') {
      const items: XlValue[] = [];
      skipNewlines();
      if (peek().kind === ']') {
        next();
        return { kind: 'list', items, line: t.line };
      }
      for (;;) {
        items.push(value(key, op));
        skipNewlines();
        const s = next();
        if (s.kind === ']') break;
        if (s.kind === ',') {
          skipNewlines();
          if (peek().kind === ']') {
            next();
            break;
          }
          continue;
        }
        if (s.kind === 'eof') syntax(s.line, `the list of "${key}" opened on line ${t.line} is not closed`);
        syntax(s.line, `expected "," or "]" in the list of "${key}", got ${describe(s)}`);
      }
      return { kind: 'list', items, line: t.line };
    }
    if (t.kind === 'newline' || t.kind === 'eof' || t.kind === ';') return syntax(t.line, `missing value after "${key} ${op}"`);
    return syntax(t.line, `expected a value for "${key}" (a quoted string, a number or a [list]), got ${describe(t)}`);
  };

  const assignments: XlSetting[] = [];
  for (;;) {
    const t = next();
    if (t.kind === 'eof') break;
    if (t.kind === 'newline' || t.kind === ';') continue;
    if (t.kind !== 'ident') syntax(t.line, `expected a key at the start of a statement, got ${describe(t)}`);
    const op = next();
    if (op.kind !== '=' && op.kind !== '+=') syntax(op.line, `expected "=" after "${t.text}", got ${describe(op)}`);
    const v = value(t.text, op.text);
    assignments.push({ key: t.text, op: op.kind as '=' | '+=', value: v, line: t.line });
    const end = peek();
    if (end.kind === 'newline' || end.kind === ';') next();
    else if (end.kind !== 'eof') syntax(end.line, `expected the end of the statement after the value of "${t.text}", got ${describe(end)}`);
  }

  // xl keeps every assignment and looks up the newest; `+=` joins with the one before it.
  const settings = new Map<string, XlSetting>();
  for (const a of assignments) {
    const prev = settings.get(a.key);
    let v = a.value;
    if (a.op === '+=' && prev) {
      const p = prev.value;
      if (p.kind === 'string' && v.kind === 'string') v = { kind: 'string', text: p.text + v.text, line: v.line };
      else if (p.kind === 'list' && v.kind === 'list') v = { kind: 'list', items: [...p.items, ...v.items], line: v.line };
      else syntax(a.line, `"${a.key} +=" cannot add a list to a string or a string to a list`);
    }
    settings.set(a.key, { ...a, value: v });
  }
  return { assignments, settings };
}

// --- Layer 2: the keys --------------------------------------------------------------------

export type XlDomainType = 'pv' | 'pvh' | 'hvm';

/** What to do when the domain shuts down for a given reason (xl.cfg's on_* keys); the toolstack checks the same list. */
export { XL_ACTIONS, type XlAction };

export interface XlDisk {
  /** The spec as written and the line of its list item. */
  spec: string;
  line: number;
  /** The image as written; null for an empty cdrom drive. */
  target: string | null;
  /** `target` resolved against the directory of the cfg file. */
  targetPath: string | null;
  /** `raw`, or `empty` for a cdrom drive with no target (pvsim supports no other format). */
  format: 'raw' | 'empty';
  /** The guest's name for the device (`xvda`, `hdc`, `xvdb1`, ...). */
  vdev: string;
  /** Xen's virtual device number for vdev, as libxl computes it (docs/misc/vbd-interface). */
  devid: number;
  access: 'r' | 'w';
  devtype: 'disk' | 'cdrom';
  /** Backend domain, a name or a domid; '0' by default. */
  backend: string;
}

export interface XlVif {
  spec: string;
  line: number;
  /** Index in the vif list, which is the device id, as in xl. */
  devid: number;
  /** Lower-case aa:bb:cc:dd:ee:ff. */
  mac: string;
  /** True when the config gave no mac and pvsim derived one from the domain name and devid. */
  macGenerated: boolean;
  bridge: string;
  /** One or more addresses, space-separated, as written; null if none. */
  ip: string | null;
  /** Accepted for compatibility; pvsim runs no hotplug scripts. */
  script: string | null;
  model: string;
  type: 'vif' | 'ioemu';
  backend: string;
  vifname: string | null;
}

export interface XlConfig {
  file: string;
  name: string;
  type: XlDomainType;
  /** The kernel as written and resolved against the cfg file's directory; null only for hvm. */
  kernel: string | null;
  kernelPath: string | null;
  memoryMiB: number;
  maxmemMiB: number;
  vcpus: number;
  maxvcpus: number;
  /** The kernel command line: cmdline, or else root= and extra combined as xl does. */
  cmdline: string;
  /** Credit scheduler weight (xl.cfg's cpu_weight) and cap (percent of one pCPU, 0 = none). */
  weight: number;
  cap: number;
  disks: XlDisk[];
  vifs: XlVif[];
  onPoweroff: XlAction;
  onReboot: XlAction;
  onCrash: XlAction;
  onWatchdog: XlAction;
  onSoftReset: XlAction;
  /** Lower-case canonical form, or null when the config gives none. */
  uuid: string | null;
  /** What xl would warn about (the config is still used). */
  warnings: string[];
}

export const XL_DEFAULTS = {
  type: 'pv' as XlDomainType,
  /** libxl's default when neither memory nor maxmem is given. */
  memoryMiB: 32,
  vcpus: 1,
  weight: 256,
  cap: 0,
  onPoweroff: 'destroy' as XlAction,
  onReboot: 'restart' as XlAction,
  onCrash: 'destroy' as XlAction,
  onWatchdog: 'destroy' as XlAction,
  onSoftReset: 'soft-reset' as XlAction,
  bridge: 'xenbr0',
  nicModel: 'rtl8139',
} as const;

/** pvsim's limits: an RV32 guest's memory, and the vcpu_info slots in shared_info. */
export const XL_LIMITS = { maxMemoryMiB: 4096, maxVcpus: XEN_LEGACY_MAX_VCPUS, maxWeight: 65535 } as const;

export const XL_KEYS = [
  'name',
  'type',
  'uuid',
  'kernel',
  'memory',
  'maxmem',
  'vcpus',
  'maxvcpus',
  'cmdline',
  'root',
  'extra',
  'cpu_weight',
  'cap',
  'disk',
  'vif',
  'on_poweroff',
  'on_reboot',
  'on_crash',
  'on_watchdog',
  'on_soft_reset',
] as const;

/** Keys of xl.cfg(5) that pvsim does not implement: named as such rather than "unknown". */
const XL_ONLY_KEYS = new Set([
  'builder', 'ramdisk', 'bootloader', 'bootloader_args', 'firmware', 'device_tree', 'pool', 'cpus', 'cpus_soft',
  'seclabel', 'init_seclabel', 'max_grant_frames', 'max_maptrack_frames', 'max_event_channels', 'e820_host',
  'driver_domain', 'nomigrate', 'pci', 'dtdev', 'vfb', 'vkb', 'vtpm', 'p9', 'pvcalls', 'vdispl', 'vsnd', 'channel',
  'usbctrl', 'usbdev', 'vif2', 'period', 'slice', 'latency', 'extratime', 'vnuma', 'hap', 'oos', 'acpi', 'apic',
  'pae', 'nx', 'hpet', 'viridian', 'serial', 'vnc', 'sdl', 'boot', 'localtime', 'rtc_timeoffset', 'tsc_mode',
  'shadow_memory', 'videoram', 'device_model_version', 'device_model_override', 'stdvga', 'vga', 'nestedhvm',
  'altp2m', 'vpmu', 'claim_mode', 'passthrough', 'gic_version', 'vuart', 'on_watchdog_action',
]);

/** Names people reach for that xl spells differently. */
const KEY_HINTS: Record<string, string> = { weight: 'cpu_weight', cpu_cap: 'cap', mem: 'memory', maxmemory: 'maxmem', maxcpus: 'maxvcpus' };

/** Edit distance with adjacent transpositions (memroy -> memory is 1). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

function unknownKeyMessage(key: string): string {
  if (XL_ONLY_KEYS.has(key)) return `key ${q(key)} is an xl.cfg key that pvsim does not support`;
  const hint = KEY_HINTS[key];
  if (hint) return `unknown key ${q(key)} (xl.cfg calls it ${q(hint)})`;
  let best: string | null = null;
  let bestD = 3;
  for (const k of XL_KEYS) {
    const dist = editDistance(key, k);
    if (dist < bestD) {
      best = k;
      bestD = dist;
    }
  }
  return best ? `unknown key ${q(key)} (did you mean ${q(best)}?)` : `unknown key ${q(key)}`;
}

/** strtol(s, &end, 0) accepting only a whole-string match, as xlu_cfg_get_long does. */
export function parseCLong(s: string): number | null {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return null;
  const digits = m[2]!;
  const v = /^0[xX]/.test(digits) ? parseInt(digits.slice(2), 16) : digits.length > 1 && digits[0] === '0' ? parseInt(digits, 8) : parseInt(digits, 10);
  return m[1] === '-' ? -v : v;
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Parses an xl.cfg file's text; `file` names it in errors and anchors relative paths. */
export function parseXlCfg(text: string, file: string): XlConfig {
  const { assignments, settings } = parseXlCfgSettings(text, file);
  for (const a of assignments) {
    if (!(XL_KEYS as readonly string[]).includes(a.key)) throw new XlCfgError(file, a.line, null, unknownKeyMessage(a.key));
  }
  const baseDir = dirname(file);
  const warnings: string[] = [];
  const seen = new Map<string, number>();
  for (const a of assignments) {
    const first = seen.get(a.key);
    if (first !== undefined && a.op === '=') warnings.push(`${file}:${a.line}: ${a.key} is set again (first on line ${first}); the last setting wins`);
    if (first === undefined) seen.set(a.key, a.line);
  }
  const fail = (s: XlSetting, msg: string): never => {
    throw new XlCfgError(file, s.line, s.key, msg);
  };

  const atom = (key: string): { s: XlSetting; text: string } | null => {
    const s = settings.get(key);
    if (!s) return null;
    if (s.value.kind !== 'string') fail(s, 'expected a single value, not a list');
    return { s, text: (s.value as { text: string }).text };
  };
  const integer = (key: string, what: string): { s: XlSetting; n: number } | null => {
    const a = atom(key);
    if (!a) return null;
    if (a.s.op === '+=') fail(a.s, `"+=" cannot be used with a number`);
    const n = parseCLong(a.text);
    if (n === null) fail(a.s, `expected ${what}, got ${q(a.text)}`);
    return { s: a.s, n: n! };
  };
  const inRange = (v: { s: XlSetting; n: number }, lo: number, hi: number, unit = '') => {
    if (v.n < lo || v.n > hi) fail(v.s, `${v.n}${unit} is out of range (${lo}-${hi}${unit})`);
  };

  const typeA = atom('type');
  let type: XlDomainType = XL_DEFAULTS.type;
  if (typeA) {
    if (typeA.text !== 'pv' && typeA.text !== 'pvh' && typeA.text !== 'hvm') fail(typeA.s, `expected "pv", "pvh" or "hvm", got ${q(typeA.text)}`);
    type = typeA.text as XlDomainType;
  }

  const nameA = atom('name');
  if (!nameA) throw new XlCfgError(file, null, null, 'missing required key "name" (every domain needs a name)');
  // The toolstack applies the same rule to every request (validate.ts).
  const nameProblem = domainNameProblem(nameA.text);
  if (nameProblem) fail(nameA.s, nameProblem);
  const name = nameA.text;

  const uuidA = atom('uuid');
  if (uuidA && !UUID_RE.test(uuidA.text)) fail(uuidA.s, `expected a UUID like 01234567-89ab-cdef-0123-456789abcdef, got ${q(uuidA.text)}`);

  const kernelA = atom('kernel');
  if (kernelA && kernelA.text === '') fail(kernelA.s, 'empty path');
  if (!kernelA && type !== 'hvm') throw new XlCfgError(file, null, null, `missing required key "kernel" (a ${type} domain boots a kernel image)`);
  const resolvePath = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));

  const memory = integer('memory', 'an integer number of MiB');
  if (memory) inRange(memory, 1, XL_LIMITS.maxMemoryMiB, ' MiB');
  const maxmem = integer('maxmem', 'an integer number of MiB');
  const memoryMiB = memory?.n ?? maxmem?.n ?? XL_DEFAULTS.memoryMiB;
  if (maxmem) {
    inRange(maxmem, 1, XL_LIMITS.maxMemoryMiB, ' MiB');
    if (maxmem.n < memoryMiB) fail(maxmem.s, `${maxmem.n} MiB is below memory = ${memoryMiB} MiB`);
  }

  const vcpusV = integer('vcpus', 'an integer number of vCPUs');
  if (vcpusV) inRange(vcpusV, 1, XL_LIMITS.maxVcpus);
  const vcpus = vcpusV?.n ?? XL_DEFAULTS.vcpus;
  const maxvcpusV = integer('maxvcpus', 'an integer number of vCPUs');
  if (maxvcpusV) {
    inRange(maxvcpusV, 1, XL_LIMITS.maxVcpus);
    if (maxvcpusV.n < vcpus) fail(maxvcpusV.s, `${maxvcpusV.n} is below vcpus = ${vcpus}`);
  }
  const maxvcpus = maxvcpusV?.n ?? vcpus;

  const weightV = integer('cpu_weight', 'an integer weight (1-65535)');
  if (weightV) inRange(weightV, 1, XL_LIMITS.maxWeight);
  const capV = integer('cap', 'an integer percentage of one pCPU (0 = no cap)');
  if (capV) {
    if (capV.n < 0) fail(capV.s, `${capV.n} is negative (0 means no cap)`);
    if (capV.n > 100 * maxvcpus) fail(capV.s, `${capV.n} is above 100 x maxvcpus = ${100 * maxvcpus}`);
  }

  // xl: cmdline wins; otherwise "root=<root> <extra>", "root=<root>" or extra alone.
  const cmdlineA = atom('cmdline');
  const rootA = atom('root');
  const extraA = atom('extra');
  let cmdline = '';
  let cmdlineFrom: XlSetting | undefined;
  if (cmdlineA) {
    cmdline = cmdlineA.text;
    cmdlineFrom = cmdlineA.s;
    if (rootA || extraA) warnings.push(`${file}:${cmdlineA.s.line}: ignoring root= and extra= in favour of cmdline=`);
  } else if (rootA && extraA) {
    cmdline = `root=${rootA.text} ${extraA.text}`;
    cmdlineFrom = extraA.s;
  } else if (rootA) {
    cmdline = `root=${rootA.text}`;
    cmdlineFrom = rootA.s;
  } else if (extraA) {
    cmdline = extraA.text;
    cmdlineFrom = extraA.s;
  }
  const cmdBytes = Buffer.byteLength(cmdline, 'utf8');
  if (cmdlineFrom && cmdBytes >= MAX_GUEST_CMDLINE) fail(cmdlineFrom, `the command line is ${cmdBytes} bytes; start_info holds at most ${MAX_GUEST_CMDLINE - 1}`);
  if (cmdlineFrom && cmdline.includes('\0')) fail(cmdlineFrom, 'the command line contains a NUL character');

  const action = (key: string, dflt: XlAction): XlAction => {
    const a = atom(key);
    if (!a) return dflt;
    if (!(XL_ACTIONS as readonly string[]).includes(a.text)) fail(a.s, `unknown action ${q(a.text)}; expected one of ${XL_ACTIONS.join(', ')}`);
    return a.text as XlAction;
  };

  const specList = (key: string, example: string): { s: XlSetting; items: { text: string; line: number }[] } | null => {
    const s = settings.get(key);
    if (!s) return null;
    if (s.value.kind !== 'list') fail(s, `expected a list of specs, e.g. ${key} = [ ${example} ]`);
    const items = (s.value as { items: XlValue[] }).items.map((v, i) => {
      if (v.kind !== 'string') throw new XlCfgError(file, v.line, `${key}[${i}]`, 'expected a string, not a list');
      return { text: v.text, line: v.line };
    });
    return { s, items };
  };

  const disks: XlDisk[] = [];
  for (const [i, item] of (specList('disk', `'disk.img,raw,xvda,rw'`)?.items ?? []).entries()) {
    const key = `disk[${i}]`;
    let d: Omit<XlDisk, 'line'>;
    try {
      d = parseDiskSpec(item.text, baseDir);
    } catch (e) {
      if (e instanceof XlSpecError) throw new XlCfgError(file, item.line, key, `${e.message} (in ${q(item.text)})`);
      throw e;
    }
    const clash = disks.findIndex((o) => o.devid === d.devid);
    if (clash >= 0) throw new XlCfgError(file, item.line, key, `vdev ${d.vdev} (device ${d.devid}) is already used by disk[${clash}]`);
    disks.push({ ...d, line: item.line });
  }

  const vifs: XlVif[] = [];
  for (const [i, item] of (specList('vif', `'bridge=xenbr0'`)?.items ?? []).entries()) {
    const key = `vif[${i}]`;
    let v: Omit<XlVif, 'line'>;
    try {
      v = parseVifSpec(item.text, { domainName: name, devid: i, domainType: type });
    } catch (e) {
      if (e instanceof XlSpecError) throw new XlCfgError(file, item.line, key, `${e.message} (in ${q(item.text)})`);
      throw e;
    }
    const clash = vifs.findIndex((o) => o.mac === v.mac);
    if (clash >= 0) throw new XlCfgError(file, item.line, key, `mac ${v.mac} is already used by vif[${clash}]`);
    vifs.push({ ...v, line: item.line });
  }

  return {
    file,
    name,
    type,
    kernel: kernelA?.text ?? null,
    kernelPath: kernelA ? resolvePath(kernelA.text) : null,
    memoryMiB,
    maxmemMiB: maxmem?.n ?? memoryMiB,
    vcpus,
    maxvcpus,
    cmdline,
    weight: weightV?.n ?? XL_DEFAULTS.weight,
    cap: capV?.n ?? XL_DEFAULTS.cap,
    disks,
    vifs,
    onPoweroff: action('on_poweroff', XL_DEFAULTS.onPoweroff),
    onReboot: action('on_reboot', XL_DEFAULTS.onReboot),
    onCrash: action('on_crash', XL_DEFAULTS.onCrash),
    onWatchdog: action('on_watchdog', XL_DEFAULTS.onWatchdog),
    onSoftReset: action('on_soft_reset', XL_DEFAULTS.onSoftReset),
    uuid: uuidA ? uuidA.text.toLowerCase() : null,
    warnings,
  };
}

// --- Disk specs (docs/misc/xl-disk-configuration.txt) --------------------------------------

const DISK_FLAGS_IGNORED = new Set(['direct-io-safe', 'discard', 'no-discard', 'trusted', 'untrusted']);
const DISK_PARAMS_UNSUPPORTED = new Set(['script', 'specification', 'colo-host', 'colo-port', 'colo-export', 'active-disk', 'hidden-disk', 'grant_usage']);
const DISK_FORMATS = new Set(['raw', 'qcow', 'qcow2', 'vhd', 'empty', 'qed']);

/**
 * Xen's virtual device number for a vdev, as libxl computes it, or null if libxl would
 * reject it: xvd<letters>[<partition>] (disks 0-15 with partitions 0-15 as 202<<8 |
 * disk<<4 | part, beyond that 1<<28 | disk<<8 | part; letters count a..z, aa.. like
 * spreadsheet columns), d<disk>p<part>, hd[a-d][1-63], sd[a-p][1-15], or a bare number.
 */
export function vdevToDevid(vdev: string): number | null {
  const match = (prefix: string, maxDisk: number, maxPart: number): { disk: number; part: number } | null => {
    if (!vdev.startsWith(prefix)) return null;
    let k = prefix.length;
    let disk = -1;
    while (k < vdev.length && vdev[k]! >= 'a' && vdev[k]! <= 'z') {
      disk = (disk + 1) * 26 + (vdev.charCodeAt(k) - 97);
      if (disk > maxDisk) return null;
      k++;
    }
    if (disk < 0) return null;
    const rest = vdev.slice(k);
    if (rest === '') return { disk, part: 0 };
    if (!/^[1-9][0-9]*$/.test(rest)) return null;
    const part = Number(rest);
    return part > maxPart ? null : { disk, part };
  };
  const xvd = (disk: number, part: number) => (disk <= 15 && part <= 15 ? (202 << 8) | (disk << 4) | part : ((1 << 28) | (disk << 8) | part) >>> 0);

  const dp = /^d([0-9]+)p([0-9]+)$/.exec(vdev);
  if (dp) {
    const disk = Number(dp[1]);
    const part = Number(dp[2]);
    if (disk < 1 << 20 && part < 256) return xvd(disk, part);
  }
  const x = match('xvd', (1 << 20) - 1, 255);
  if (x) return xvd(x.disk, x.part);
  const n = parseCLong(vdev);
  if (n !== null && /^[0-9]/.test(vdev) && n <= 0x7fffffff) return n;
  const h = match('hd', 3, 63);
  if (h) return ((h.disk < 2 ? 3 : 22) << 8) | ((h.disk & 1) << 6) | h.part;
  const s = match('sd', 15, 15);
  if (s) return (8 << 8) | (s.disk << 4) | s.part;
  return null;
}

/**
 * Parses one disk spec: comma-separated positional parameters (target, format, vdev,
 * access), key=value parameters, flags, and the deprecated `raw:` / `file:` / `phy:` ...
 * prefixes, with the rules of xl's disk spec lexer. Relative targets resolve against baseDir.
 */
export function parseDiskSpec(spec: string, baseDir = '.'): Omit<XlDisk, 'line'> {
  const err = (msg: string): never => {
    throw new XlSpecError(msg);
  };
  let target: string | undefined;
  let format: string | undefined;
  let vdev: string | undefined;
  let access: 'r' | 'w' = 'w';
  let accessSet = false;
  let cdrom = false;
  let backend: string | undefined;
  let hadPrefix = false;

  // A string may be given again only where it was given empty.
  const save = (what: string, old: string | undefined, v: string): string => {
    if (old) err(`${what} respecified: ${q(v)}`);
    return v;
  };
  const setFormat = (v: string) => {
    const f = v === '' ? 'raw' : v;
    if (!DISK_FORMATS.has(f)) err(`unknown value for format: ${q(v)}`);
    if (format !== undefined && format !== f) err(`format respecified: ${q(v)}`);
    format = f;
  };
  const setAccess = (v: string) => {
    if (v === 'r' || v === 'ro') access = 'r';
    else if (v === 'w' || v === 'rw' || v === '') access = 'w';
    else err(`unknown value for access: ${q(v)} (r, ro, w or rw)`);
  };
  // A positional vdev may carry a deprecated type: hdc:cdrom.
  const vdevAndDevtype = (v: string): boolean => {
    const colon = v.lastIndexOf(':');
    if (colon < 0) return false;
    vdev = save('vdev', vdev, v.slice(0, colon));
    const t = v.slice(colon + 1);
    if (t === 'cdrom') cdrom = true;
    else if (t === 'disk') cdrom = false;
    else err(`unknown deprecated type ${q(t)} after vdev`);
    return true;
  };

  let rest = spec;
  for (;;) {
    rest = rest.replace(/^[ \t\n]+/, '');
    if (rest === '') break;
    if (rest.startsWith('target=')) {
      // target= takes the rest of the spec, commas and all.
      let v = rest.slice('target='.length);
      if (v.endsWith(',')) v = v.slice(0, -1);
      target = save('target', target, v);
      break;
    }
    const prefix = /^(raw|qcow2?|vhd|iscsi|e?nbd|drbd|tapdisk|tap2?|aio|ioemu|file|phy):/.exec(rest);
    if (prefix) {
      const p = prefix[1]!;
      if (p === 'raw' || p === 'qcow' || p === 'qcow2' || p === 'vhd') setFormat(p);
      else if (p === 'iscsi' || p === 'nbd' || p === 'enbd' || p === 'drbd') err(`the ${q(p + ':')} prefix selects a block script, which pvsim does not support`);
      hadPrefix = true;
      rest = rest.slice(prefix[0].length);
      continue;
    }
    const comma = rest.indexOf(',');
    const tok = comma < 0 ? rest : rest.slice(0, comma);
    rest = comma < 0 ? '' : rest.slice(comma + 1);

    const named = /^([a-z][-a-z0-9_]*)=(.*)$/s.exec(tok);
    if (named) {
      const k = named[1]!;
      const v = named[2]!;
      if (k === 'format') setFormat(v);
      else if (k === 'vdev') vdev = save('vdev', vdev, v);
      else if (k === 'access') setAccess(v);
      else if (k === 'devtype') {
        if (v === 'cdrom') cdrom = true;
        else if (v === 'disk') cdrom = false;
        else err(`unknown value for devtype: ${q(v)} (disk or cdrom)`);
      } else if (k === 'backend') backend = save('backend', backend, v);
      else if (k === 'backendtype') {
        if (!['phy', 'tap', 'qdisk', 'standalone'].includes(v)) err(`unknown value for backendtype: ${q(v)}`);
      } else if (DISK_PARAMS_UNSUPPORTED.has(k)) err(`parameter ${q(k)} is not supported by pvsim`);
      else err(`unknown parameter ${q(k)}`);
      continue;
    }
    if (tok === 'cdrom') {
      cdrom = true;
      continue;
    }
    if (DISK_FLAGS_IGNORED.has(tok)) continue;
    if (tok === 'colo' || tok === 'no-colo') err(`${q(tok)} is not supported by pvsim`);
    if (tok.includes('=')) err(`bad disk syntax near ${q(tok)}`);
    const badPrefix = /^[a-z][a-z0-9]*:(?=[^a-z0-9]|$)/.exec(tok);
    if (badPrefix) err(`unknown deprecated disk prefix ${q(badPrefix[0])}`);

    if (target === undefined) target = tok;
    else if (!hadPrefix && format === undefined) {
      if (target === '' && vdevAndDevtype(tok)) format = 'empty';
      else setFormat(tok);
    } else if (vdev === undefined) {
      if (!vdevAndDevtype(tok)) vdev = tok;
    } else if (!accessSet) {
      accessSet = true;
      setAccess(tok);
    } else err(`too many positional parameters: ${q(tok)}`);
  }

  if (cdrom) {
    access = 'r';
    if (!target) format = 'empty';
  }
  if (!vdev) return err('no vdev specified');
  if (!target && !cdrom) return err('no target specified (and device not removable)');
  const fmt = format ?? 'raw';
  if (fmt === 'empty' && target) err('format "empty" is only for a cdrom drive with no target');
  if (fmt !== 'raw' && fmt !== 'empty') err(`format ${q(fmt)} is not supported by pvsim (only raw images)`);
  const diskFormat = fmt as 'raw' | 'empty';
  const devid = vdevToDevid(vdev);
  if (devid === null) return err(`invalid vdev ${q(vdev)} (xvda, xvdb1, hdc, sda, d0p1, ...)`);
  return {
    spec,
    target: target || null,
    targetPath: target ? (isAbsolute(target) ? target : resolve(baseDir, target)) : null,
    format: diskFormat,
    vdev,
    devid,
    access,
    devtype: cdrom ? 'cdrom' : 'disk',
    backend: backend || '0',
  };
}

// --- Vif specs (docs/misc/xl-network-configuration) ---------------------------------------

const VIF_PARAMS_UNSUPPORTED = new Set(['rate', 'gatewaydev', 'netdev', 'devid', 'mtu', 'accel', 'forwarddev']);

/** A MAC in Xen's OUI (00:16:3e) derived from the domain name and devid, as libxl's random one is laid out. */
export function generatedMac(domainName: string, devid: number): string {
  const h = createHash('sha256').update(`${domainName}\0${devid}`).digest();
  const bytes = [0x00, 0x16, 0x3e, h[0]! & 0x7f, h[1]!, h[2]!];
  return bytes.map((b) => b.toString(16).padStart(2, '0')).join(':');
}

/** Parses one vif spec: comma-separated key=value pairs, all optional ('' is a default vif). */
export function parseVifSpec(spec: string, ctx: { domainName: string; devid: number; domainType: XlDomainType }): Omit<XlVif, 'line'> {
  const err = (msg: string): never => {
    throw new XlSpecError(msg);
  };
  let mac: string | null = null;
  let bridge: string = XL_DEFAULTS.bridge;
  let ip: string | null = null;
  let script: string | null = null;
  let model: string = XL_DEFAULTS.nicModel;
  let type: 'vif' | 'ioemu' = ctx.domainType === 'hvm' ? 'ioemu' : 'vif';
  let backend = '0';
  let vifname: string | null = null;

  // As xl: split on commas (empty pieces vanish), drop leading spaces; a later key wins.
  for (const piece of spec.split(',')) {
    const tok = piece.replace(/^ +/, '');
    if (tok === '') continue;
    const eq = tok.indexOf('=');
    if (eq < 0) err(`unrecognized argument ${q(tok)} (expected key=value)`);
    const k = tok.slice(0, eq);
    const v = tok.slice(eq + 1);
    switch (k) {
      case 'mac': {
        if (!/^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){5}$/.test(v)) err(`mac ${q(v)} is not six colon-separated hex bytes, e.g. 00:16:3e:12:34:56`);
        mac = v
          .split(':')
          .map((b) => b.toLowerCase().padStart(2, '0'))
          .join(':');
        // Multicast or zero cannot be a NIC's address: the toolstack refuses them too.
        const problem = macProblem(mac);
        if (problem) err(problem);
        break;
      }
      case 'bridge': {
        const problem = bridgeProblem(v);
        if (problem) err(problem);
        bridge = v;
        break;
      }
      case 'ip':
        for (const a of v.split(/\s+/).filter(Boolean)) if (isIP(a) === 0) err(`ip ${q(a)} is not an IPv4 or IPv6 address`);
        ip = v.trim() === '' ? null : v;
        break;
      case 'script':
        script = v;
        break;
      case 'model':
        if (v === '') err('empty model');
        model = v;
        break;
      case 'type':
        if (v !== 'vif' && v !== 'ioemu') err(`invalid type ${q(v)} (vif or ioemu)`);
        type = v as 'vif' | 'ioemu';
        break;
      case 'backend':
        if (v === '') err('empty backend domain');
        backend = v;
        break;
      case 'vifname':
        vifname = v;
        break;
      default:
        if (VIF_PARAMS_UNSUPPORTED.has(k) || k.startsWith('colo_')) err(`parameter ${q(k)} is not supported by pvsim`);
        err(`unrecognized argument ${q(tok)}`);
    }
  }
  return {
    spec,
    devid: ctx.devid,
    mac: mac ?? generatedMac(ctx.domainName, ctx.devid),
    macGenerated: mac === null,
    bridge,
    ip,
    script,
    model,
    type,
    backend,
    vifname,
  };
}
