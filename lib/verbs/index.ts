export { getDevices, DeviceInfo } from './device';
export { Context, DeviceAttributes, PortAttributes, PortState, GidEntry } from './context';
export { gidBytes, gidString, normalizeGid } from './gid';
export { Access, SendFlags, Opcode, OpcodeName } from './access';
export { ProtectionDomain } from './pd';
export { MemoryRegion, Sge } from './mr';
export { CompletionQueue } from './cq';
export { QueuePair, PreparedSend, QpInit, QpAttributes, QpType, QpState, SendWr, RecvWr, RemoteQp } from './qp';
export { WorkCompletion, WcStatus, WcOpcode, CompletionError } from './completion';
