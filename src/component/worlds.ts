import { ErrorCode, WorldError } from '../errors.js';

/**
 * The worlds this host speaks (../shared/SPEC.md): which export makes a component a handler of
 * that world, and which imports the host can satisfy for it. A component is recognised from its
 * own import and export names, never from a file name or a flag.
 */

export const WorldId = {
  seed: 'wasi:messaging@0.1.0-draft/messaging',
  core: 'wasi:messaging@0.2.0-draft/messaging-core',
  requestReply: 'wasi:messaging@0.2.0-draft/messaging-request-reply',
  /** World C (batch delivery), labelled like world B: told apart by its interfaces. */
  batch: 'wasi:messaging@0.2.0-draft/messaging',
  /** World C under its January 2024 label. */
  batchV010: 'wasi:messaging@0.1.0/messaging',
} as const;
export type WorldIdValue = (typeof WorldId)[keyof typeof WorldId];

/**
 * 'a' = the seed world (CloudEvents push handler); 'b' = upstream 0.2.0-draft (message resources);
 * 'c' = batch delivery (a list of message records per handler call, error resources).
 */
export type WorldFamily = 'a' | 'b' | 'c';

export const Iface = {
  aTypes: 'wasi:messaging/messaging-types@0.1.0-draft',
  aProducer: 'wasi:messaging/producer@0.1.0-draft',
  aConsumer: 'wasi:messaging/consumer@0.1.0-draft',
  aHandler: 'wasi:messaging/handler@0.1.0-draft',
  bTypes: 'wasi:messaging/types@0.2.0-draft',
  bProducer: 'wasi:messaging/producer@0.2.0-draft',
  bRequestReply: 'wasi:messaging/request-reply@0.2.0-draft',
  bHandler: 'wasi:messaging/incoming-handler@0.2.0-draft',
  cTypes: 'wasi:messaging/messaging-types@0.2.0-draft',
  /** The same name as world B's producer: the handler export decides which world it is. */
  cProducer: 'wasi:messaging/producer@0.2.0-draft',
  cConsumer: 'wasi:messaging/consumer@0.2.0-draft',
  cGuest: 'wasi:messaging/messaging-guest@0.2.0-draft',
  cTypesV010: 'wasi:messaging/messaging-types@0.1.0',
  cProducerV010: 'wasi:messaging/producer@0.1.0',
  cConsumerV010: 'wasi:messaging/consumer@0.1.0',
  cGuestV010: 'wasi:messaging/messaging-guest@0.1.0',
} as const;

interface WorldDef {
  readonly id: WorldIdValue;
  readonly family: WorldFamily;
  readonly handlerExport: string;
  readonly imports: readonly string[];
}

const WORLDS: readonly WorldDef[] = [
  {
    id: WorldId.seed,
    family: 'a',
    handlerExport: Iface.aHandler,
    imports: [Iface.aTypes, Iface.aProducer, Iface.aConsumer],
  },
  { id: WorldId.core, family: 'b', handlerExport: Iface.bHandler, imports: [Iface.bTypes, Iface.bProducer] },
  {
    id: WorldId.requestReply,
    family: 'b',
    handlerExport: Iface.bHandler,
    imports: [Iface.bTypes, Iface.bProducer, Iface.bRequestReply],
  },
  {
    id: WorldId.batch,
    family: 'c',
    handlerExport: Iface.cGuest,
    imports: [Iface.cTypes, Iface.cProducer, Iface.cConsumer],
  },
  {
    id: WorldId.batchV010,
    family: 'c',
    handlerExport: Iface.cGuestV010,
    imports: [Iface.cTypesV010, Iface.cProducerV010, Iface.cConsumerV010],
  },
];

/** The export name of a world's handler interface (the key of jco's exports object). */
export function handlerExportOf(world: WorldIdValue): string {
  return WORLDS.find((w) => w.id === world)!.handlerExport;
}

/**
 * WASI interfaces the sandbox provides (preview2-shim, with no preopens, no environment and no
 * network): components built by `jco componentize` import these. Versions 0.2.x.
 */
const WASI_PACKAGES = [
  'wasi:cli/',
  'wasi:clocks/',
  'wasi:filesystem/',
  'wasi:io/',
  'wasi:random/',
  'wasi:sockets/',
  'wasi:http/',
];
const WASI_VERSION = /@0\.2\.\d+$/;

/**
 * The interfaces the sandbox provides (the keys of preview2-shim's import object, unversioned;
 * test/component/worlds.test.ts checks they still are). A component importing another wasi:*
 * interface is refused when it is loaded, not when an instance fails to link.
 */
export const WASI_INTERFACES: ReadonlySet<string> = new Set([
  'wasi:cli/environment',
  'wasi:cli/exit',
  'wasi:cli/stderr',
  'wasi:cli/stdin',
  'wasi:cli/stdout',
  'wasi:cli/terminal-input',
  'wasi:cli/terminal-output',
  'wasi:cli/terminal-stderr',
  'wasi:cli/terminal-stdin',
  'wasi:cli/terminal-stdout',
  'wasi:clocks/monotonic-clock',
  'wasi:clocks/wall-clock',
  'wasi:filesystem/preopens',
  'wasi:filesystem/types',
  'wasi:http/incoming-handler',
  'wasi:http/outgoing-handler',
  'wasi:http/types',
  'wasi:io/error',
  'wasi:io/poll',
  'wasi:io/streams',
  'wasi:random/insecure',
  'wasi:random/insecure-seed',
  'wasi:random/random',
  'wasi:sockets/instance-network',
  'wasi:sockets/ip-name-lookup',
  'wasi:sockets/network',
  'wasi:sockets/tcp',
  'wasi:sockets/tcp-create-socket',
  'wasi:sockets/udp',
  'wasi:sockets/udp-create-socket',
]);

export function isWasiImport(name: string): boolean {
  return WASI_PACKAGES.some((p) => name.startsWith(p)) && WASI_VERSION.test(name);
}

export interface WorldMatch {
  readonly id: WorldIdValue;
  readonly family: WorldFamily;
  readonly handlerExport: string;
  /** True when the component imports any wasi:* interface and so gets the WASI sandbox. */
  readonly wasi: boolean;
}

/** Finds the world of a component from its import and export names, or throws a WorldError. */
export function detectWorld(imports: readonly string[], exports: readonly string[], source: string): WorldMatch {
  const handlers = [...new Set(WORLDS.map((w) => w.handlerExport))].filter((h) => exports.includes(h));
  if (handlers.length === 0) {
    const found = exports.length > 0 ? exports.join(', ') : 'none';
    throw new WorldError(
      ErrorCode.missingExport,
      `${source}: exports no wasi:messaging handler; exports found: ${found} (expected ${Iface.aHandler}, ${Iface.bHandler} or ${Iface.cGuest})`,
      { file: source, exports: [...exports] },
    );
  }
  if (handlers.length > 1) {
    throw new WorldError(
      ErrorCode.ambiguousWorld,
      `${source}: exports handlers of two worlds (${handlers.join(', ')}); a component must speak one`,
      { file: source, exports: [...exports] },
    );
  }
  const handler = handlers[0]!;
  const candidates = WORLDS.filter((w) => w.handlerExport === handler);
  const unknownWasi = imports.filter((i) => isWasiImport(i) && !WASI_INTERFACES.has(i.replace(/@[^@]*$/, '')));
  if (unknownWasi.length > 0) {
    throw new WorldError(
      ErrorCode.unsupportedImport,
      `${source}: imports ${unknownWasi.join(', ')}, which the WASI sandbox does not provide`,
      { file: source, missing: unknownWasi },
    );
  }
  const messagingImports = imports.filter((i) => !isWasiImport(i));
  // The smallest world whose imports cover the component's imports.
  const world = candidates.find((w) => messagingImports.every((i) => w.imports.includes(i)));
  if (world === undefined) {
    const widest = candidates[candidates.length - 1]!;
    const missing = messagingImports.filter((i) => !widest.imports.includes(i));
    throw new WorldError(
      ErrorCode.unsupportedImport,
      `${source}: imports ${missing.join(', ')}, which this host does not provide to ${widest.id} components (it provides: ${widest.imports.join(', ')} and WASI 0.2 in a sandbox)`,
      { file: source, missing, world: widest.id },
    );
  }
  return {
    id: world.id,
    family: world.family,
    handlerExport: world.handlerExport,
    wasi: imports.some(isWasiImport),
  };
}

/**
 * The world-level import and export names printed by wasm-tools (`component wit`), e.g.
 * `import wasi:messaging/producer@0.1.0-draft;`. Function imports (`import f: func(...)`) are
 * reported by their plain name.
 */
export function parseWorldItems(wit: string): { imports: string[]; exports: string[] } {
  const imports: string[] = [];
  const exports: string[] = [];
  const worldStart = wit.search(/^world\s/m);
  const body = worldStart >= 0 ? wit.slice(worldStart) : wit;
  // `import wasi:messaging/producer@0.1.0-draft;` or `import name: func(...)` / `import name: interface {`
  for (const m of body.matchAll(/^\s*(import|export)\s+([^;{\s]+?)\s*(?:;|:\s|\{)/gm)) {
    (m[1] === 'import' ? imports : exports).push(m[2]!.replace(/^%/, ''));
  }
  return { imports, exports };
}
