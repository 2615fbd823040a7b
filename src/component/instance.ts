import { ComponentLinkError, ErrorCode, WasmsgError, describe } from '../errors.js';
import { messageToEvent } from './cloudevents.js';
import { worldAImports } from './host-a.js';
import { worldBImports, type WorldBHost } from './host-b.js';
import { type GuestConfiguration, type WorldCHost, settleBatch, worldCImports } from './host-c.js';
import { HostState } from './host-state.js';
import type { CompiledComponent } from './load.js';
import type { BatchOutcome, CallOutcome, HandlerResult, HostConfig, InboundMessage, MessagingError } from './types.js';
import { defaultLogger, wasiImports } from './wasi.js';
import { Iface, handlerExportOf } from './worlds.js';

/**
 * One live instance of a component in the current thread, behind the one handler interface:
 * `call(message)` → result + outbox. Works in any thread; the engine uses it in workers.
 *
 * A trap (or any throw that is not the guest's own error variant) leaves a component instance
 * unusable, so the instance is marked dead and rebuilt, synchronously, before the next call.
 */

type Instantiate = (
  getCoreModule: (name: string) => WebAssembly.Module,
  imports: Record<string, unknown>,
) => Record<string, Record<string, (arg: unknown) => void>>;

/** Handles a world-B guest left undropped before the instance is rebuilt to free jco's handle table. */
export const LEAKED_HANDLES_REBUILD = 10_000;
const ERROR_TAGS = new Set(['timeout', 'connection', 'permission-denied', 'other']);

function toGuestError(payload: unknown): MessagingError {
  if (typeof payload === 'object' && payload !== null) {
    const { tag, val } = payload as { tag?: unknown; val?: unknown };
    if (tag === 'timeout') return { tag };
    if (typeof tag === 'string' && ERROR_TAGS.has(tag) && typeof val === 'string') {
      return { tag: tag as 'connection' | 'permission-denied' | 'other', val };
    }
  }
  return { tag: 'other', val: JSON.stringify(payload) ?? String(payload) };
}

/**
 * jco 1.35 throws the guest's `err(e)` payload itself (a plain `{tag, val}` object; older
 * versions wrap it in a ComponentError with a `payload`). Traps and glue failures are Errors.
 */
function classify(e: unknown): HandlerResult {
  if (e instanceof Error) {
    if (Object.prototype.hasOwnProperty.call(e, 'payload')) {
      return { tag: 'error', error: toGuestError((e as unknown as { payload: unknown }).payload) };
    }
    return { tag: 'trap', message: e.message };
  }
  if (typeof e === 'object' && e !== null && typeof (e as { tag?: unknown }).tag === 'string') {
    return { tag: 'error', error: toGuestError(e) };
  }
  return { tag: 'trap', message: `handler threw ${describe(e)}` };
}

export class ComponentInstance {
  readonly component: CompiledComponent;
  private readonly config: HostConfig;
  private readonly instantiateFn: Instantiate;
  private state!: HostState;
  private worldB: WorldBHost | undefined;
  private worldC: WorldCHost | undefined;
  /** World C: what the guest's `configure()` returned when this instance was (re)built. */
  configuration: GuestConfiguration | undefined;
  private handler!: (arg: unknown) => void;
  private dead = false;
  private leaked = 0;
  /** How many times the instance was rebuilt (after traps or handle leaks). */
  rebuilds = 0;

  private constructor(component: CompiledComponent, config: HostConfig, instantiateFn: Instantiate) {
    this.component = component;
    this.config = config;
    this.instantiateFn = instantiateFn;
    this.build();
  }

  static async create(component: CompiledComponent, config: HostConfig): Promise<ComponentInstance> {
    let glue: { instantiate: Instantiate };
    try {
      glue = (await import(component.glueUrl)) as { instantiate: Instantiate };
    } catch (err) {
      throw new ComponentLinkError(
        ErrorCode.instantiate,
        `${component.source}: cannot load jco glue: ${describe(err)}`,
        {
          file: component.source,
        },
      );
    }
    return new ComponentInstance(component, config, glue.instantiate);
  }

  private build(): void {
    const c = this.component;
    this.state = new HostState(this.config);
    let imports: Record<string, unknown>;
    if (c.family === 'a') {
      this.worldB = undefined;
      imports = worldAImports(this.state);
    } else if (c.family === 'c') {
      this.worldC = worldCImports(this.state, this.config.brokerFormats);
      imports = this.worldC.imports;
    } else {
      this.worldB = worldBImports(this.state);
      imports = this.worldB.imports;
    }
    if (c.wasi) imports = { ...wasiImports(c.name, this.config.logger ?? defaultLogger), ...imports };
    let exports: ReturnType<Instantiate>;
    try {
      exports = this.instantiateFn((name) => {
        const m = c.modules[name];
        if (m === undefined) throw new Error(`no compiled core module '${name}'`);
        return m;
      }, imports);
    } catch (err) {
      throw new ComponentLinkError(ErrorCode.instantiate, `${c.source}: cannot instantiate: ${describe(err)}`, {
        file: c.source,
        world: c.world,
      });
    }
    if (c.family === 'c') return this.bindWorldC(exports);
    const iface = exports[c.family === 'a' ? Iface.aHandler : Iface.bHandler];
    const fn = iface?.[c.family === 'a' ? 'onReceive' : 'handle'];
    if (typeof fn !== 'function') {
      throw new ComponentLinkError(
        ErrorCode.instantiate,
        `${c.source}: instantiated, but its handler export is missing`,
        {
          file: c.source,
        },
      );
    }
    this.handler = fn;
    this.dead = false;
    this.leaked = 0;
  }

  private rebuild(): void {
    this.rebuilds++;
    this.build();
  }

  /** Calls the handler once. Never throws for guest behaviour: errors and traps are results. */
  call(msg: InboundMessage): CallOutcome {
    if (this.component.family === 'c') return this.callOne(msg);
    if (this.dead || this.leaked > LEAKED_HANDLES_REBUILD) this.rebuild();
    let result: HandlerResult;
    try {
      this.handler(this.worldB === undefined ? messageToEvent(msg) : this.worldB.inbound(msg));
      result = { tag: 'ok' };
    } catch (e) {
      result = classify(e);
      if (result.tag === 'trap') this.dead = true;
    }
    if (this.worldB !== undefined) this.leaked += this.worldB.releaseLive();
    const outbox = this.state.drainOutbox();
    // A failed call publishes nothing: its outputs would otherwise go out on every retry.
    return { result, outbox: result.tag === 'ok' ? outbox : [] };
  }

  /** World C: the guest's `messaging-guest` export; `configure()` runs once per (re)built instance. */
  private bindWorldC(exports: ReturnType<Instantiate>): void {
    const c = this.component;
    const iface = exports[handlerExportOf(c.world)] as Record<string, unknown> | undefined;
    const handler = iface?.['handler'];
    const configure = iface?.['configure'];
    if (typeof handler !== 'function' || typeof configure !== 'function') {
      throw new ComponentLinkError(
        ErrorCode.instantiate,
        `${c.source}: instantiated, but its handler export is missing`,
        {
          file: c.source,
        },
      );
    }
    this.handler = handler as (arg: unknown) => void;
    try {
      this.configuration = (configure as () => GuestConfiguration)();
    } catch (e) {
      const error = this.worldC!.guestError(e);
      throw new ComponentLinkError(
        ErrorCode.instantiate,
        `${c.source}: configure() ${error === undefined ? `trapped: ${describe(e)}` : `returned err: ${error.val}`}`,
        { file: c.source, world: c.world },
      );
    }
    this.dead = false;
    this.leaked = 0;
  }

  /** `call` for world C: a batch of one. */
  private callOne(msg: InboundMessage): CallOutcome {
    const { results, outbox } = this.callBatch([msg]);
    return { result: results[0] as HandlerResult, outbox };
  }

  /**
   * World C: hands the whole batch to `handler` in one call. Per message: completed by the guest
   * → ok; abandoned → error; otherwise the handler's result (ok, error, trap). A message after a
   * failed one of the same lane is `skipped`, to keep the lane's order; `lanes[i]` is message i's
   * lane (default: its broker, channel and partition). The outbox is the batch's: empty unless a
   * message is ok. Never throws for guest behaviour; after a trap the instance is rebuilt (and
   * `configure()` run again) before the next call.
   */
  callBatch(msgs: readonly InboundMessage[], lanes?: readonly unknown[]): BatchOutcome {
    if (this.worldC === undefined) {
      throw new WasmsgError(ErrorCode.badInput, `${this.component.source}: callBatch needs a world C component`);
    }
    if (msgs.length === 0) return { results: [], outbox: [] };
    const laneOf = lanes ?? msgs.map((m) => `${m.broker ?? ''}\u0000${m.channel}\u0000${m.partition ?? 0}`);
    if (this.dead || this.worldC.liveHandles() > LEAKED_HANDLES_REBUILD) {
      try {
        this.rebuild();
      } catch (e) {
        this.dead = true;
        const trap: HandlerResult = { tag: 'trap', message: `instance rebuild failed: ${describe(e)}` };
        return settleBatch(trap, new Array(msgs.length).fill(undefined), laneOf, []);
      }
    }
    const host = this.worldC;
    const records = host.begin(msgs);
    let result: HandlerResult;
    try {
      this.handler(records);
      result = { tag: 'ok' };
    } catch (e) {
      const error = host.guestError(e);
      result = error === undefined ? classify(e) : { tag: 'error', error };
      if (result.tag === 'trap') this.dead = true;
    }
    return settleBatch(result, host.end(), laneOf, this.state.drainOutbox());
  }
}
