// The public surface of wasmsg, by name. Declarations are generated from these sources.
export { loadComponent, inspectComponent } from './component/load.js';
export type { ComponentInfo, CompiledComponent, LoadOptions } from './component/load.js';
export { ComponentInstance } from './component/instance.js';
export { callInWorker } from './component/call.js';
export type { CallInWorkerOptions } from './component/call.js';
export { WorldId } from './component/worlds.js';
export type { WorldIdValue, WorldFamily } from './component/worlds.js';
export type {
  CallOutcome,
  ChannelKind,
  Grants,
  HandlerResult,
  HostConfig,
  InboundMessage,
  LogLine,
  Logger,
  MessagingError,
  OutboxEntry,
} from './component/types.js';
export {
  ErrorCode,
  WasmsgError,
  ComponentFormatError,
  WorldError,
  ComponentLinkError,
  HandlerRunError,
  OptionError,
  errorFromJSON,
} from './errors.js';
export type { ErrorCodeValue, SerializedError } from './errors.js';
