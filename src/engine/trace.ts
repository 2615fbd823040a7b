/**
 * Trace context across the broker hop (W3C Trace Context, CloudEvents distributed-tracing
 * extension): what a handler publishes carries the `traceparent` (and `tracestate`) of the
 * input it was published for, unless the handler set its own. An input's plain W3C header goes
 * out as the plain header; a CloudEvents attribute (any binding's prefix) as the neutral
 * `ce_traceparent`, which each adapter writes in its binding.
 */

const FIELDS = ['traceparent', 'tracestate'] as const;
const CE_PREFIXES = ['ce_', 'ce-', 'cloudEvents:', 'cloudEvents_'] as const;

/** The output's headers with the input's trace context added; the same object when there is none to add. */
export function carryTrace(
  out: Readonly<Record<string, string>>,
  input: Readonly<Record<string, string>>,
): Readonly<Record<string, string>> {
  let result: Record<string, string> | undefined;
  for (const field of FIELDS) {
    if (out[field] !== undefined || out[`ce_${field}`] !== undefined) continue;
    let name: string | undefined;
    let value = input[field];
    if (value !== undefined) name = field;
    else {
      for (const p of CE_PREFIXES) {
        value = input[`${p}${field}`];
        if (value !== undefined) {
          name = `ce_${field}`;
          break;
        }
      }
    }
    if (name === undefined || value === undefined) continue;
    (result ??= { ...out })[name] = value;
  }
  return result ?? out;
}
