import type { WorldFamily } from '../worlds.js';
import { type CoreShape, readCanonShape, readCoreShape } from './wasm-parse.js';

/**
 * Decides, once per component (main thread, at load), whether the direct binding can run it:
 * its core module must have exactly the shape the binding was written for — every function
 * import a known name with the expected core signature, the handler export, `memory`,
 * `cabi_realloc` and the post-return with theirs — and its canonical options must be UTF-8
 * strings with memory (and realloc, post-return) and nothing async. Everything else keeps jco's
 * glue, and the reason is kept so `wasmsg inspect` can say it.
 */

export type BindingChoice =
  | { readonly kind: 'direct'; readonly core: string; readonly why: string }
  | { readonly kind: 'jco'; readonly why: string };

const I = 'i32';
const sig = (params: number, result = false): string =>
  `${new Array<string>(params).fill(I).join(',')}->${result ? I : ''}`;

export const REALLOC_SIG = sig(4, true);
export const POST_RETURN_SIG = sig(1);

const A_TYPES = 'wasi:messaging/messaging-types@0.1.0-draft';
const A_PRODUCER = 'wasi:messaging/producer@0.1.0-draft';
const A_CONSUMER = 'wasi:messaging/consumer@0.1.0-draft';
const B_TYPES = 'wasi:messaging/types@0.2.0-draft';
const B_PRODUCER = 'wasi:messaging/producer@0.2.0-draft';
const B_RR = 'wasi:messaging/request-reply@0.2.0-draft';

/** Core import `module#name` → signature, per world. Flattening per the canonical ABI (MAX_FLAT_PARAMS 16, MAX_FLAT_RESULTS 1). */
export const KNOWN_IMPORTS: Readonly<Record<'a' | 'b' | 'c' | 'c010', Readonly<Record<string, string>>>> = {
  a: {
    [`${A_TYPES}#[static]broker.open`]: sig(3), // name ptr/len, retptr
    [`${A_TYPES}#[resource-drop]broker`]: sig(1),
    [`${A_PRODUCER}#publish`]: sig(2), // 30 flat params > 16: a pointer to the tuple; retptr
    [`${A_CONSUMER}#subscribe`]: sig(5), // broker, channel (tag, ptr, len), retptr
    [`${A_CONSUMER}#unsubscribe`]: sig(4), // broker, token ptr/len, retptr
  },
  b: {
    [`${B_TYPES}#[static]client.connect`]: sig(3),
    [`${B_TYPES}#[method]client.disconnect`]: sig(2),
    [`${B_TYPES}#[resource-drop]client`]: sig(1),
    [`${B_TYPES}#[constructor]message`]: sig(2, true),
    [`${B_TYPES}#[method]message.topic`]: sig(2),
    [`${B_TYPES}#[method]message.content-type`]: sig(2),
    [`${B_TYPES}#[method]message.set-content-type`]: sig(3),
    [`${B_TYPES}#[method]message.data`]: sig(2),
    [`${B_TYPES}#[method]message.set-data`]: sig(3),
    [`${B_TYPES}#[method]message.metadata`]: sig(2),
    [`${B_TYPES}#[method]message.add-metadata`]: sig(5),
    [`${B_TYPES}#[method]message.set-metadata`]: sig(3),
    [`${B_TYPES}#[method]message.remove-metadata`]: sig(3),
    [`${B_TYPES}#[resource-drop]message`]: sig(1),
    [`${B_PRODUCER}#send`]: sig(5), // client, topic ptr/len, message, retptr
    [`${B_RR}#[constructor]request-options`]: sig(0, true),
    [`${B_RR}#[method]request-options.set-timeout-ms`]: sig(2),
    [`${B_RR}#[method]request-options.set-expected-replies`]: sig(2),
    [`${B_RR}#[resource-drop]request-options`]: sig(1),
    [`${B_RR}#request`]: sig(7), // client, topic ptr/len, message, option tag + handle, retptr
    [`${B_RR}#reply`]: sig(3),
  },
  c: worldCImports('0.2.0-draft'),
  c010: worldCImports('0.1.0'),
};

/** World C's imports under either of its labels (@0.1.0, then @0.2.0-draft: the same shape). */
function worldCImports(version: string): Record<string, string> {
  const types = `wasi:messaging/messaging-types@${version}`;
  const consumer = `wasi:messaging/consumer@${version}`;
  return {
    [`${types}#[static]client.connect`]: sig(3), // name ptr/len, retptr
    [`${types}#[resource-drop]client`]: sig(1),
    [`${types}#[static]error.trace`]: sig(1), // retptr
    [`${types}#[resource-drop]error`]: sig(1),
    [`wasi:messaging/producer@${version}#send`]: sig(6), // own client, channel ptr/len, list ptr/len, retptr
    [`${consumer}#subscribe-try-receive`]: sig(5), // client, channel, u32, retptr
    [`${consumer}#subscribe-receive`]: sig(4),
    [`${consumer}#update-guest-configuration`]: sig(6), // channels ptr/len, option tag/ptr/len, retptr
    [`${consumer}#complete-message`]: sig(7), // message flattened (6), retptr
    [`${consumer}#abandon-message`]: sig(7),
  };
}

export const HANDLER_EXPORT: Readonly<Record<'a' | 'b' | 'c' | 'c010', string>> = {
  a: 'wasi:messaging/handler@0.1.0-draft#on-receive',
  b: 'wasi:messaging/incoming-handler@0.2.0-draft#handle',
  c: 'wasi:messaging/messaging-guest@0.2.0-draft#handler',
  c010: 'wasi:messaging/messaging-guest@0.1.0#handler',
};

/** World C's second export, run once per instance. */
export function configureExport(handler: string): string {
  return handler.replace(/#handler$/, '#configure');
}

/** The shape key of a family: world C's two labels have their own names. */
export type Shape = keyof typeof HANDLER_EXPORT;

export function postReturnName(exportName: string): string {
  return `cabi_post_${exportName}`;
}

function checkCore(family: Shape, core: CoreShape): string | null {
  const known = KNOWN_IMPORTS[family];
  for (const [name, s] of core.funcImports) {
    const want = known[name];
    if (want === undefined)
      return `its core module imports ${name.replace('#', ' ')}, which the direct binding does not provide`;
    if (want !== s) return `its core import ${name.replace('#', ' ')} has signature (${s}), expected (${want})`;
  }
  if (core.otherImports.length > 0) return `its core module imports ${core.otherImports[0]}`;
  const handler = HANDLER_EXPORT[family];
  const world = family === 'c' || family === 'c010';
  const checks: Array<[string, string]> = [
    ['memory', 'memory'],
    ['cabi_realloc', REALLOC_SIG],
    [handler, world ? sig(2, true) : sig(1, true)],
  ];
  if (world) checks.push([configureExport(handler), sig(0, true)]);
  for (const [name, want] of checks) {
    const got = core.exports.get(name);
    if (got === undefined) return `its core module does not export ${name}`;
    if (got !== want) return `its core export ${name} is (${got}), expected (${want})`;
  }
  for (const name of world ? [handler, configureExport(handler)] : [handler]) {
    const post = core.exports.get(postReturnName(name));
    if (post !== undefined && post !== POST_RETURN_SIG) {
      return `its core export ${postReturnName(name)} is (${post}), expected (${POST_RETURN_SIG})`;
    }
  }
  return null;
}

/** A module of wit-component's indirect-lowering plumbing (shim: a table of trampolines; fixups: fills it). */
function isPlumbing(core: CoreShape): boolean {
  for (const name of core.funcImports.keys()) if (name.includes(':')) return false;
  for (const [name, kind] of core.exports)
    if (kind === 'memory' || (name !== '$imports' && !/^\d+$/.test(name))) return false;
  return true;
}

/**
 * @param component the component's bytes
 * @param cores jco's extracted core modules (file name → bytes), in jco's order
 */
export function chooseBinding(
  family: WorldFamily,
  wasi: boolean,
  component: Uint8Array,
  cores: ReadonlyMap<string, Uint8Array>,
): BindingChoice {
  if (wasi) return { kind: 'jco', why: 'it imports WASI (the sandbox is preview2-shim, through jco)' };
  const canon = readCanonShape(component);
  if (canon === null) return { kind: 'jco', why: 'its canonical definitions could not be read' };
  if (canon.unfit !== null) return { kind: 'jco', why: `it uses ${canon.unfit}` };
  const lifts = family === 'c' ? 2 : 1;
  if (canon.lifts.length !== lifts)
    return { kind: 'jco', why: `it lifts ${canon.lifts.length} functions, expected ${lifts}` };
  if (canon.lifts.some((l) => !l.memory)) return { kind: 'jco', why: 'an export is lifted without a memory' };
  if (family === 'a' && !canon.lifts[0]!.realloc) return { kind: 'jco', why: 'its handler is lifted without realloc' };
  const shapes: Shape[] = family === 'c' ? ['c', 'c010'] : [family];
  let main: { name: string; shape: CoreShape; family: Shape } | undefined;
  for (const [name, bytes] of cores) {
    const shape = readCoreShape(bytes);
    if (shape === null) return { kind: 'jco', why: `core module ${name} uses features the fit check cannot read` };
    const f = shapes.find((k) => shape.exports.has(HANDLER_EXPORT[k]));
    if (f !== undefined) {
      if (main !== undefined) return { kind: 'jco', why: 'two core modules export the handler' };
      main = { name, shape, family: f };
    } else if (!isPlumbing(shape)) {
      return { kind: 'jco', why: `core module ${name} is neither the guest nor wit-component plumbing` };
    }
  }
  if (main === undefined) return { kind: 'jco', why: 'no core module exports the handler' };
  if (canon.coreModules !== cores.size) {
    return { kind: 'jco', why: `the component holds ${canon.coreModules} core modules, jco extracted ${cores.size}` };
  }
  const bad = checkCore(main.family, main.shape);
  if (bad !== null) return { kind: 'jco', why: bad };
  const handler = HANDLER_EXPORT[main.family];
  const exported = family === 'c' ? [handler, configureExport(handler)] : [handler];
  const posts = exported.filter((e) => main.shape.exports.has(postReturnName(e))).length;
  if (posts !== canon.lifts.filter((l) => l.postReturn).length) {
    return { kind: 'jco', why: 'its post-return exports and its canonical post-return options disagree' };
  }
  return { kind: 'direct', core: main.name, why: 'its core module has exactly the shape of the direct binding' };
}
