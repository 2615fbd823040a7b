import { escapeControl } from '../component/host-text.js';
import { readFile } from 'node:fs/promises';
import { callInWorker } from '../component/call.js';
import { loadComponent } from '../component/load.js';
import type { CallOutcome, HandlerResult } from '../component/types.js';
import { ErrorCode, HandlerRunError, OptionError } from '../errors.js';
import { checkComponentPath } from './files.js';

export interface CallOptions {
  data?: string;
  dataFile?: string;
  topic: string;
  subject?: string;
  header: Array<[string, string]>;
  broker: string[];
  timeout: number;
  json?: boolean;
  cacheDir?: string;
  binding?: string;
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

/** What the handler did: its result, or that it was stopped (timeout) or its thread died. */
type Ran = HandlerResult | { tag: 'timeout'; message: string } | { tag: 'crashed'; message: string };

export function resultToJSON(result: Ran): unknown {
  if (result.tag === 'ok') return 'ok';
  if (result.tag === 'error') return { error: result.error };
  if (result.tag === 'timeout') return { timeout: result.message };
  if (result.tag === 'crashed') return { crashed: result.message };
  return { trap: result.message };
}

/** Guest text on the terminal: control characters escaped, so none can forge a line of ours. */
const shown = escapeControl;

function resultLine(r: Ran): string {
  if (r.tag === 'ok') return 'ok';
  if (r.tag === 'error') return `err(${r.error.tag}${'val' in r.error ? `: ${shown(r.error.val)}` : ''})`;
  return `${r.tag}: ${shown(r.message)}`;
}

function outcomeToJSON(world: string, result: Ran, outcome: CallOutcome): unknown {
  return {
    world,
    result: resultToJSON(result),
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
    : shown(text);
}

export async function runCall(file: string, opts: CallOptions): Promise<number> {
  const headers = Object.fromEntries(opts.header);
  const data = await payload(opts);
  await checkComponentPath(file);
  const component = await loadComponent(file, opts.cacheDir === undefined ? {} : { cacheDir: opts.cacheDir });
  const brokers = opts.broker.length > 0 ? opts.broker : ['default'];
  let outcome: CallOutcome;
  let result: Ran;
  try {
    outcome = await callInWorker(
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
      { timeoutMs: opts.timeout },
    );
    result = outcome.result;
  } catch (err) {
    // the handler ran and did not finish: a handler failure (exit 3), reported like a result
    if (!(err instanceof HandlerRunError)) throw err;
    outcome = { result: { tag: 'trap', message: err.message }, outbox: [] };
    result = {
      tag: err.code === ErrorCode.handlerTimeout ? 'timeout' : 'crashed',
      message: `${err.message} [${err.code}]`,
    };
  }
  const binding = opts.binding === 'jco' || component.binding.kind === 'jco' ? 'jco' : 'direct';
  const failed = result.tag !== 'ok';
  if (opts.json === true) {
    process.stdout.write(
      `${JSON.stringify({ ...(outcomeToJSON(component.world, result, outcome) as object), binding })}\n`,
    );
    return failed ? 3 : 0;
  }
  const lines = [
    `world   ${component.world}`,
    `binding ${binding}`,
    `result  ${resultLine(result)}`,
    `outbox  ${outcome.outbox.length} message(s)`,
  ];
  for (const o of outcome.outbox) {
    lines.push(`  ${o.kind} ${shown(o.channel)} on ${shown(o.broker)}`);
    for (const [k, v] of Object.entries(o.headers)) lines.push(`    ${shown(k)}: ${shown(v)}`);
    lines.push(`    data: ${printable(o.data)}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
  return failed ? 3 : 0;
}
