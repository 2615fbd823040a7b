// The public surface of wasmsg, by name. Declarations are generated from these sources.
export { loadComponent, inspectComponent } from './component/load.js';
export type { ComponentInfo, CompiledComponent, LoadOptions } from './component/load.js';
export { ComponentInstance } from './component/instance.js';
export { callInWorker } from './component/call.js';
export type { CallInWorkerOptions } from './component/call.js';
export { WorldId } from './component/worlds.js';
export type { WorldIdValue, WorldFamily } from './component/worlds.js';
export type {
  BatchMessageResult,
  BatchOutcome,
  CallOutcome,
  ChannelKind,
  FormatSpec,
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
  BrokerError,
  errorFromJSON,
} from './errors.js';
export type { ErrorCodeValue, SerializedError } from './errors.js';
export { Engine } from './engine/engine.js';
export type { EngineEvents, ProcessInput, ProcessResult } from './engine/engine.js';
export type { EngineOptionsInput, OptionIssue, ResolvedOptions } from './engine/options.js';
export {
  EngineOptionsSchema,
  resolveOptions,
  checkBrokers,
  optionIssues,
  DEFAULT_WORKERS,
  MAX_WORKERS,
} from './engine/options.js';
export type { EngineStats, EngineHistograms } from './engine/stats.js';
export type { ChannelStats, ConsumerLag } from './engine/counters.js';
export { metricsRegistry, LATENCY_BUCKETS, HANDLER_BUCKETS } from './metrics/registry.js';
export type { MetricsEngine, MetricsRegistryOptions } from './metrics/registry.js';
export { createBroker } from './brokers/connect.js';
export type { BrokerSpec } from './brokers/connect.js';
export { MemoryBroker } from './brokers/memory.js';
export type { MemoryBrokerOptions } from './brokers/memory.js';
export { generate, syntheticPayload } from './brokers/synthetic.js';
export type {
  BrokerAdapter,
  BrokerRecord,
  Consumer,
  OutRecord,
  SubscribeSpec,
  BatchListener,
} from './brokers/adapter.js';
