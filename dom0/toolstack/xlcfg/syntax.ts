// xl.cfg(5) syntax, as xl's own config parser (libxlu) reads it: `key = value` statements
// ended by a newline or `;`, `#` comments, values that are quoted strings, bare numbers or
// `[ ... ]` lists (nested lists allowed, newlines and a trailing comma allowed inside), and
// `key += value` to append to an earlier string or list. Every value is text: a bare number
// is kept as written and only read as a number by the key that wants one (parseCLong), which
// is why `memory = "512"` works in xl. The last assignment to a key wins. No key is
// interpreted here: that is keys.ts. See docs/xl.md.

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

/** A value quoted for a message. */
export const q = (s: string) => JSON.stringify(s);

/**
 * The key=value pairs of a device spec (vif, vdev), as xl splits them: on commas, empty
 * pieces vanish, leading spaces dropped. Lazy, so that a piece without `=` is reported only
 * when reached (a bad value before it is reported first).
 */
export function* specPairs(spec: string): Generator<[key: string, value: string]> {
  for (const piece of spec.split(',')) {
    const tok = piece.replace(/^ +/, '');
    if (tok === '') continue;
    const eq = tok.indexOf('=');
    if (eq < 0) throw new XlSpecError(`unrecognized argument ${q(tok)} (expected key=value)`);
    yield [tok.slice(0, eq), tok.slice(eq + 1)];
  }
}

// --- The syntax ---------------------------------------------------------------------------

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

/** strtol(s, &end, 0) accepting only a whole-string match, as xlu_cfg_get_long does. */
export function parseCLong(s: string): number | null {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m) return null;
  const digits = m[2]!;
  const v = /^0[xX]/.test(digits) ? parseInt(digits.slice(2), 16) : digits.length > 1 && digits[0] === '0' ? parseInt(digits, 8) : parseInt(digits, 10);
  return m[1] === '-' ? -v : v;
}
