/**
 * Guest text as the host keeps and shows it. Whatever a guest writes (log lines, error texts,
 * header values) reaches logs and terminals only through `escapeControl`: a CR or LF from a
 * guest cannot start a line of its own (forging a `wasmsg:` line), an ESC cannot drive the
 * terminal. Header maps are filled through `setHeader`, so any name is data.
 */

// C0 controls (TAB, LF, CR and ESC among them), DEL, C1 controls (0x9B is a one-byte CSI to some
// terminals), the Unicode line and paragraph separators, and the bidirectional overrides and
// isolates that reorder what a reader sees.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeOne(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * `text` with every control character written as a visible escape (`\n`, `\r`, `\t`, `\x1b`,
 * `\u2028`, ...). Backslashes are left alone: this is for display, not a reversible encoding.
 */
export function escapeControl(text: string): string {
  CONTROL.lastIndex = 0;
  return CONTROL.test(text) ? text.replace(CONTROL, escapeOne) : text;
}

/** The headers of a message that has none: one frozen object shared by every such message. */
export const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({});

/**
 * Sets a header as data whatever its name: `out['__proto__'] = v` would not add a property to a
 * plain object (it is the prototype setter, and ignores a string), so that one name is defined.
 * `constructor`, `toString` and the like become own properties by plain assignment.
 */
export function setHeader(out: Record<string, string>, name: string, value: string): void {
  if (name === '__proto__')
    Object.defineProperty(out, name, { value, enumerable: true, writable: true, configurable: true });
  else out[name] = value;
}

/** Headers from name/value pairs, every name kept as data (`__proto__` included); a later pair wins. */
export function headersFromPairs(pairs: Iterable<readonly [string, string]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of pairs) setHeader(out, k, v);
  return out;
}
