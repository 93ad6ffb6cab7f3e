// First: with RDMA_CCM_CODE_CACHE set, the package's other files load through the code cache.
import '../code-cache';
export { getDevices, DeviceInfo } from './device';
export { Context, DeviceAttributes, PortAttributes, PortState, GidEntry, AsyncEvent, AsyncEventType } from './context';
export { gidBytes, gidString, normalizeGid } from './gid';
export { Access, SendFlags, Opcode, OpcodeName } from './access';
export { ProtectionDomain } from './pd';
export { MemoryRegion, Sge } from './mr';
export { AddressHandle, AhAttr } from './ah';
export { SharedReceiveQueue, SrqInit } from './srq';
export { MemoryWindow, MwType } from './mw';
export { CompletionQueue } from './cq';
export { QueuePair, PreparedSend, QpInit, QpAttributes, QpType, QpState, SendWr, RecvWr, RemoteQp, WindowBind } from './qp';
export { WorkCompletion, WcStatus, WcOpcode, CompletionError } from './completion';
export { released } from './released';
