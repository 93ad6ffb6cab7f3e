// rdma-ccm/ccm: the cluster connection manager.
// First: with RDMA_CCM_CODE_CACHE set, the package's other files load through the code cache.
import '../code-cache';
export { ClusterNode, type ClusterNodeEvents, type NodeStatus } from './node';
export type { PartnerStatus } from './partner';
export type {
  CcmOptions,
  CcmConfig,
  PartnerConfig,
  ResolvedPartner,
  WitnessOptions,
  WitnessConfig,
  NvramOptions,
} from './config';
export {
  DiskWitness,
  type Witness,
  type WitnessVerdict,
  type WitnessView,
  type WitnessHooks,
  type DiskWitnessOptions,
} from './witness';
export type { BackoffOptions } from './backoff';
export { ConfigError, resolveConfig, newGeneration } from './config';
export type {
  CcmEvent,
  CcmEventType,
  HandshakeStep,
  Role,
  Base as CcmEventBase,
  ReplayedLog,
} from './events';
export type { Session, SessionEnd } from './session';
export type { SessionLink } from './session-link';
export {
  LogMirror,
  MirrorError,
  type LogMirrorEvents,
  type AppendOptions,
  type FenceCounts,
  type MirrorTarget,
} from './mirror';
export {
  readMirroredLog,
  MirroredLogError,
  type MirroredLog,
  type MirroredRecord,
  type MirroredLogReplay,
  type MirroredLogOptions,
} from './mirrored-log';
export { readNvramLog } from './nvram';
export type { MirrorErrorCode } from './mirror-stream';
export type {
  Transport,
  Endpoint,
  Link,
  IncomingRequest,
  EndpointOptions,
  ConnectOptions,
  FlushPlacement,
  Outgoing,
} from './transport';
export * as wire from './wire';
export { enableCodeCache, saveCodeCache, codeCacheStats, CodeCacheStats } from '../code-cache';
