// rdma-ccm/ccm: the cluster connection manager.
export { ClusterNode } from './node';
export type { CcmOptions, CcmConfig, PartnerConfig } from './config';
export { ConfigError, resolveConfig, newGeneration } from './config';
export type { CcmEvent, CcmEventType, HandshakeStep, Role } from './events';
export type { Session, SessionEnd } from './session';
export { LogMirror, MirrorError } from './mirror';
export type { MirrorErrorCode } from './mirror-stream';
export type { Transport, Endpoint, Link, IncomingRequest, ExposedMemory } from './transport';
export * as wire from './wire';
