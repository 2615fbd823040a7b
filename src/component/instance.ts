import { ComponentLinkError, ErrorCode, describe } from '../errors.js';
import { messageToEvent } from './cloudevents.js';
import { worldAImports } from './host-a.js';
import { worldBImports, type WorldBHost } from './host-b.js';
import { HostState } from './host-state.js';
import type { CompiledComponent } from './load.js';
import type { CallOutcome, HandlerResult, HostConfig, InboundMessage, MessagingError } from './types.js';
import { defaultLogger, wasiImports } from './wasi.js';
import { Iface } from './worlds.js';

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
}
