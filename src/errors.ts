/**
 * Every error wasmsg throws is a WasmsgError with a stable `code`. Errors that cross a thread
 * boundary are serialised with `toJSON()` and rebuilt with `errorFromJSON()` by code, so a
 * worker's error arrives in the main thread as the same class with the same fields.
 */

export const ErrorCode = {
  fileNotFound: 'E_FILE_NOT_FOUND',
  notWasm: 'E_NOT_WASM',
  coreModule: 'E_CORE_MODULE',
  truncated: 'E_TRUNCATED',
  malformed: 'E_MALFORMED',
  missingExport: 'E_MISSING_EXPORT',
  ambiguousWorld: 'E_AMBIGUOUS_WORLD',
  unsupportedImport: 'E_UNSUPPORTED_IMPORT',
  transpile: 'E_TRANSPILE',
  instantiate: 'E_INSTANTIATE',
  handlerTimeout: 'E_HANDLER_TIMEOUT',
  workerCrashed: 'E_WORKER_CRASHED',
  badOption: 'E_BAD_OPTION',
  badInput: 'E_BAD_INPUT',
  retention: 'E_RETENTION',
  brokerUnavailable: 'E_BROKER_UNAVAILABLE',
  publishFailed: 'E_PUBLISH_FAILED',
  engineState: 'E_ENGINE_STATE',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface SerializedError {
  readonly name: string;
  readonly code: string;
  readonly message: string;
  readonly context?: Record<string, unknown>;
}

export class WasmsgError extends Error {
  readonly code: ErrorCodeValue;
  /** Extra facts about the error (file, option, import, ...), also serialised. */
  readonly context: Record<string, unknown>;

  constructor(
    code: ErrorCodeValue,
    message: string,
    context: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.context = context;
  }

  override get name(): string {
    return this.constructor.name;
  }

  toJSON(): SerializedError {
    return { name: this.name, code: this.code, message: this.message, context: this.context };
  }
}

/** The bytes are not a loadable WebAssembly component (not wasm, core module, truncated, malformed). */
export class ComponentFormatError extends WasmsgError {}

/** The component is valid but speaks no world this host supports, or imports what the host lacks. */
export class WorldError extends WasmsgError {}

/** jco could not transpile, or the runtime could not compile or instantiate, the component. */
export class ComponentLinkError extends WasmsgError {}

/** A handler did not return in time, or the thread running it died. */
export class HandlerRunError extends WasmsgError {}

/** An option or input given by the caller is invalid; `context.option` names it. */
export class OptionError extends WasmsgError {}

/** A broker refused, lost or could not reach something (`context` names the broker and URL). */
export class BrokerError extends WasmsgError {}

const classesByName: Record<
  string,
  new (code: ErrorCodeValue, message: string, context?: Record<string, unknown>) => WasmsgError
> = {
  WasmsgError,
  ComponentFormatError,
  WorldError,
  ComponentLinkError,
  HandlerRunError,
  OptionError,
  BrokerError,
};

/** Rebuilds an error serialised by `WasmsgError#toJSON` (e.g. posted from a worker). */
export function errorFromJSON(data: SerializedError): WasmsgError {
  const Cls = classesByName[data.name] ?? WasmsgError;
  return new Cls(data.code as ErrorCodeValue, data.message, data.context ?? {});
}

export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
