import assert from 'node:assert/strict';

/** Samples of the Prometheus text format by `name{labels}` (labels as prom-client writes them). */
export function parseProm(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    assert.ok(m !== null, `a sample line: ${line}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}
