import { readFile } from 'node:fs/promises';
import { callInWorker } from '../component/call.js';
import { loadComponent } from '../component/load.js';
import type { CallOutcome, HandlerResult } from '../component/types.js';
import { ErrorCode, OptionError } from '../errors.js';

export interface CallOptions {
  data?: string;
  dataFile?: string;
  topic: string;
  subject?: string;
  header: string[];
  broker: string[];
  timeout: string;
  json?: boolean;
  cacheDir?: string;
  binding?: string;
}

function parseHeaders(list: string[]): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const h of list) {
    const eq = h.indexOf('=');
    if (eq <= 0) {
      throw new OptionError(ErrorCode.badOption, `--header must be key=value, got '${h}'`, {
        option: 'header',
        value: h,
      });
    }
    headers[h.slice(0, eq)] = h.slice(eq + 1);
  }
  return headers;
}

function parseTimeout(value: string): number {
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms <= 0) {
    throw new OptionError(ErrorCode.badOption, `--timeout must be a positive integer (ms), got '${value}'`, {
      option: 'timeout',
      value,
    });
  }
  return ms;
}

async function payload(opts: CallOptions): Promise<Uint8Array> {
  if (opts.dataFile !== undefined) {
    try {
      return await readFile(opts.dataFile);
    } catch (err) {
      throw new OptionError(ErrorCode.badOption, `--data-file ${opts.dataFile}: ${(err as Error).message}`, {
        option: 'data-file',
      });
    }
  }
  return new TextEncoder().encode(opts.data ?? '');
}

export function resultToJSON(result: HandlerResult): unknown {
  if (result.tag === 'ok') return 'ok';
  if (result.tag === 'error') return { error: result.error };
  return { trap: result.message };
}

function outcomeToJSON(world: string, outcome: CallOutcome): unknown {
  return {
    world,
    result: resultToJSON(outcome.result),
    outbox: outcome.outbox.map((o) => ({
      kind: o.kind,
      channel: o.channel,
      data: Buffer.from(o.data).toString('base64'),
      headers: o.headers,
    })),
  };
}

function printable(data: Uint8Array): string {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(data);
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u0008\u000e-\u001f\ufffd]/.test(text)
    ? `<${data.length} bytes, base64 ${Buffer.from(data).toString('base64')}>`
    : text;
}

export async function runCall(file: string, opts: CallOptions): Promise<number> {
  const timeoutMs = parseTimeout(opts.timeout);
  const headers = parseHeaders(opts.header);
  const data = await payload(opts);
  const component = await loadComponent(file, opts.cacheDir === undefined ? {} : { cacheDir: opts.cacheDir });
  const brokers = opts.broker.length > 0 ? opts.broker : ['default'];
  const outcome = await callInWorker(
    component,
    {
      payload: data,
      channel: opts.topic,
      key: opts.subject ?? null,
      headers,
      timestamp: Date.now(),
      broker: 'cli',
      offset: '0',
    },
    { brokers, binding: opts.binding === 'jco' ? 'jco' : 'auto' },
    { timeoutMs },
  );
  const binding = opts.binding === 'jco' || component.binding.kind === 'jco' ? 'jco' : 'direct';
  const failed = outcome.result.tag !== 'ok';
  if (opts.json === true) {
    process.stdout.write(`${JSON.stringify({ ...(outcomeToJSON(component.world, outcome) as object), binding })}\n`);
    return failed ? 3 : 0;
  }
  const r = outcome.result;
  const lines = [
    `world   ${component.world}`,
    `binding ${binding}`,
    `result  ${r.tag === 'ok' ? 'ok' : r.tag === 'error' ? `err(${r.error.tag}${'val' in r.error ? `: ${r.error.val}` : ''})` : `trap: ${r.message}`}`,
    `outbox  ${outcome.outbox.length} message(s)`,
  ];
  for (const o of outcome.outbox) {
    lines.push(`  ${o.kind} ${o.channel} on ${o.broker}`);
    for (const [k, v] of Object.entries(o.headers)) lines.push(`    ${k}: ${v}`);
    lines.push(`    data: ${printable(o.data)}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return failed ? 3 : 0;
}
