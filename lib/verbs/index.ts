export { getDevices, DeviceInfo } from './device';
export {
  Context,
  ContextEvents,
  DeviceAttributes,
  DeviceCapabilities,
  PortAttributes,
  PortState,
  GidEntry,
  AsyncEvent,
  AsyncEventType,
} from './context';
export { gidBytes, gidString, normalizeGid } from './gid';
export { Access, SendFlags, Opcode, OpcodeName } from './access';
export { ProtectionDomain } from './pd';
export { MemoryRegion, Sge } from './mr';
export { AddressHandle, AhAttr } from './ah';
export { SharedReceiveQueue, SharedReceiveQueueEvents, SrqInit } from './srq';
export { MemoryWindow, MwType } from './mw';
export { CompletionQueue, CompletionQueueEvents, CqOptions, RingHandler } from './cq';
export { Desc, descriptors } from './descriptor';
export { Wc } from './completion-ring';
export { QueuePair, PreparedSend, QpInit, QpAttributes, QpType, QpState, RemoteQp } from './qp';
export { SendWr, RecvWr, WindowBind, FlushTarget } from './work-request';
export { WorkCompletion, WcStatus, WcOpcode, CompletionError } from './completion';
export { released } from './released';
