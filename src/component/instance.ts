import type { MessageTuple } from '../codec/batch.js';
import { toInbound } from '../codec/batch.js';
import { Msg } from '../codec/layout.js';
import { ComponentLinkError, ErrorCode, WasmsgError, describe } from '../errors.js';
import { messageToEvent } from './cloudevents.js';
import { trapMessage } from './direct/guest.js';
import { DirectWorldA } from './direct/world-a.js';
import { DirectWorldB } from './direct/world-b.js';
import { ConfigureError, DirectWorldC } from './direct/world-c.js';
import { worldAImports } from './host-a.js';
import { worldBImports, type WorldBHost } from './host-b.js';
import { type GuestConfiguration, type Settlement, type WorldCHost, settleBatch, worldCImports } from './host-c.js';
import { HostState } from './host-state.js';
import type { CompiledComponent } from './load.js';
import type { BatchOutcome, CallOutcome, HandlerResult, HostConfig, InboundMessage, OutboxEntry } from './types.js';
import { classify } from './classify.js';
import { defaultLogger, wasiImports } from './wasi.js';
import { Iface, WorldId, handlerExportOf } from './worlds.js';

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
const OK: HandlerResult = Object.freeze({ tag: 'ok' });
const OK_EMPTY: CallOutcome = Object.freeze({ result: OK, outbox: [] as OutboxEntry[] });
const NO_OUTBOX: OutboxEntry[] = [];
Object.freeze(NO_OUTBOX);

/** Which binding an instance uses: the direct canonical-ABI binding, or jco's generated glue. */
export type BindingKind = 'direct' | 'jco';

export class ComponentInstance {
  readonly component: CompiledComponent;
  private readonly config: HostConfig;
  private readonly instantiateFn: Instantiate | undefined;
  /** The binding this instance runs on (`config.binding: 'jco'` forces jco's glue). */
  readonly binding: BindingKind;
  private state!: HostState;
  private worldB: WorldBHost | undefined;
  private worldC: WorldCHost | undefined;
  /** World C: what the guest's `configure()` returned when this instance was (re)built. */
  configuration: GuestConfiguration | undefined;
  private direct: DirectWorldA | DirectWorldB | DirectWorldC | undefined;
  private handler!: (arg: unknown) => void;
  private dead = false;
  private leaked = 0;
  /** How many times the instance was rebuilt (after traps or handle leaks). */
  rebuilds = 0;
  /** World B: messages the guest left undropped after its calls, in all (a leak counter for tests). */
  leakedHandles = 0;

  private constructor(component: CompiledComponent, config: HostConfig, instantiateFn: Instantiate | undefined) {
    this.component = component;
    this.config = config;
    this.instantiateFn = instantiateFn;
    this.binding = instantiateFn === undefined ? 'direct' : 'jco';
    this.build();
  }

  static async create(component: CompiledComponent, config: HostConfig): Promise<ComponentInstance> {
    if (component.binding.kind === 'direct' && config.binding !== 'jco') {
      return new ComponentInstance(component, config, undefined);
    }
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
    this.dead = false;
    this.leaked = 0;
    if (this.instantiateFn === undefined) {
      this.buildDirect();
      return;
    }
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
      exports = this.instantiateFn!((name) => {
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
  }

  private buildDirect(): void {
    const c = this.component;
    const binding = c.binding;
    const module = binding.kind === 'direct' ? c.modules[binding.core] : undefined;
    if (module === undefined) throw new Error(`${c.source}: no core module for the direct binding`);
    try {
      if (c.family === 'c') {
        const shape = c.world === WorldId.batchV010 ? 'c010' : 'c';
        const direct = new DirectWorldC(module, this.state, shape, this.config.brokerFormats);
        this.direct = direct;
        this.configuration = direct.configuration;
      } else {
        this.direct = c.family === 'a' ? new DirectWorldA(module, this.state) : new DirectWorldB(module, this.state);
      }
    } catch (err) {
      const what =
        err instanceof ConfigureError ? `configure() ${err.message}` : `cannot instantiate: ${describe(err)}`;
      throw new ComponentLinkError(ErrorCode.instantiate, `${c.source}: ${what}`, { file: c.source, world: c.world });
    }
  }

  private rebuild(): void {
    this.rebuilds++;
    this.build();
  }

  /** Calls the handler once. Never throws for guest behaviour: errors and traps are results. */
  call(msg: InboundMessage): CallOutcome {
    if (this.component.family === 'c') return this.callOne(msg);
    if (this.direct !== undefined) return this.callDirect(msg, undefined);
    return this.callJco(msg);
  }

  /**
   * Calls the handler with a message as the batch codec decoded it. The direct binding lowers it
   * from the tuple's fields (payload copied once, slot → guest, no event or message object where
   * the world needs none); jco's glue gets the message object it needs.
   */
  callTuple(m: MessageTuple): CallOutcome {
    if (this.direct !== undefined) return this.callDirect(undefined, m);
    return this.callJco(toInbound(m));
  }

  private callDirect(msg: InboundMessage | undefined, tuple: MessageTuple | undefined): CallOutcome {
    if (this.dead || this.leaked > LEAKED_HANDLES_REBUILD) this.rebuild();
    const direct = this.direct as DirectWorldA | DirectWorldB;
    let result: HandlerResult = OK;
    this.state.beginCall();
    try {
      const error = tuple !== undefined ? direct.callTuple(tuple) : direct.call(msg!);
      if (error !== null) result = { tag: 'error', error };
    } catch (e) {
      result = { tag: 'trap', message: trapMessage(e) };
      this.dead = true;
    }
    if (this.state.exceeded !== undefined && result.tag !== 'trap')
      result = { tag: 'error', error: this.state.exceeded };
    if (direct instanceof DirectWorldB) {
      const n = direct.releaseLive();
      this.leaked += n;
      this.leakedHandles += n;
    }
    const outbox = this.state.outbox;
    if (outbox.length === 0) return result === OK ? OK_EMPTY : { result, outbox: NO_OUTBOX };
    // A failed call publishes nothing: its outputs would otherwise go out on every retry.
    return { result, outbox: result === OK ? this.state.drainOutbox() : (outbox.splice(0), NO_OUTBOX) };
  }

  private callJco(msg: InboundMessage): CallOutcome {
    if (this.dead || this.leaked > LEAKED_HANDLES_REBUILD) this.rebuild();
    let result: HandlerResult;
    this.state.beginCall();
    try {
      this.handler(this.worldB === undefined ? messageToEvent(msg) : this.worldB.inbound(msg));
      result = { tag: 'ok' };
    } catch (e) {
      result = classify(e);
      if (result.tag === 'trap') this.dead = true;
    }
    if (this.state.exceeded !== undefined && result.tag !== 'trap')
      result = { tag: 'error', error: this.state.exceeded };
    if (this.worldB !== undefined) {
      const n = this.worldB.releaseLive();
      this.leaked += n;
      this.leakedHandles += n;
    }
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
   * World C from the batch codec's tuples (the pool worker's path): the direct binding lowers
   * them as they are; jco's glue gets message objects. Lanes are the tuples' lane ids.
   */
  callBatchTuples(tuples: readonly MessageTuple[]): BatchOutcome {
    const lanes = tuples.map((t) => t[Msg.lane]);
    if (this.direct instanceof DirectWorldC) return this.callBatchDirect(tuples, lanes);
    return this.callBatch(tuples.map(toInbound), lanes);
  }

  /** World C's per-message results; a call past its output limits fails as a whole, publishing nothing. */
  private settleC(result: HandlerResult, settled: Settlement[], lanes: readonly unknown[]): BatchOutcome {
    const outbox = this.state.drainOutbox();
    const over = this.state.exceeded;
    if (over === undefined || result.tag === 'trap') return settleBatch(result, settled, lanes, outbox);
    return settleBatch({ tag: 'error', error: over }, new Array<Settlement>(settled.length).fill(undefined), lanes, []);
  }

  private callBatchDirect(tuples: readonly MessageTuple[], lanes: readonly unknown[]): BatchOutcome {
    if (tuples.length === 0) return { results: [], outbox: [] };
    let direct = this.direct as DirectWorldC;
    if (this.dead || direct.liveHandles() > LEAKED_HANDLES_REBUILD) {
      try {
        this.rebuild();
        direct = this.direct as DirectWorldC;
      } catch (e) {
        this.dead = true;
        const trap: HandlerResult = { tag: 'trap', message: `instance rebuild failed: ${describe(e)}` };
        return settleBatch(trap, new Array(tuples.length).fill(undefined), lanes, []);
      }
    }
    let result: HandlerResult = OK;
    let settled: Settlement[];
    try {
      this.state.beginCall();
      const r = direct.callBatch(tuples);
      if (r.error !== null) result = { tag: 'error', error: r.error };
      settled = r.settled;
    } catch (e) {
      result = { tag: 'trap', message: trapMessage(e) };
      settled = direct.lastSettled();
      this.dead = true;
    }
    return this.settleC(result, settled, lanes);
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
    if (this.direct instanceof DirectWorldC) {
      return this.callBatchDirect(msgs.map(inboundToTuple), lanes ?? msgs.map(laneKey));
    }
    if (this.worldC === undefined) {
      throw new WasmsgError(ErrorCode.badInput, `${this.component.source}: callBatch needs a world C component`);
    }
    if (msgs.length === 0) return { results: [], outbox: [] };
    const laneOf = lanes ?? msgs.map(laneKey);
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
    this.state.beginCall();
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
    return this.settleC(result, host.end(), laneOf);
  }
}

/** The lane of a message given without one: its broker, channel and partition. */
function laneKey(m: InboundMessage): string {
  return `${m.broker ?? ''}\u0000${m.channel}\u0000${m.partition ?? 0}`;
}

/** The batch tuple of a message given as an object (the `call` and library paths of world C). */
function inboundToTuple(m: InboundMessage): MessageTuple {
  return [
    m.payload,
    m.channel,
    m.partition as number,
    m.offset as string,
    m.key as string | null,
    m.headers as Record<string, string>,
    m.timestamp as number,
    0,
    m.broker as string,
  ];
}
