// Guests' console output on stderr for `pvsim run --console`: whole lines, each prefixed with
// its domain's name. Output arrives in chunks (a CONSOLEIO_write or a console-ring batch), so a
// chunk boundary must not start a new prefixed line mid-line.

/** Bytes a domain may leave without a newline before they are written anyway. */
const PARTIAL_MAX = 4096;

export function consoleLineWriter(write: (s: string) => void): (d: { name: string }, bytes: Uint8Array) => void {
  const partial = new Map<string, string>();
  const decoder = new TextDecoder();
  return (d, bytes) => {
    let text = (partial.get(d.name) ?? '') + decoder.decode(bytes);
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n')) {
      write(`[${d.name}] ${text.slice(0, nl + 1)}`);
      text = text.slice(nl + 1);
    }
    if (text.length > PARTIAL_MAX) {
      write(`[${d.name}] ${text}\n`);
      text = '';
    }
    partial.set(d.name, text);
  };
}
