export { getDevices, DeviceInfo } from './device';
export { Context, DeviceAttributes, PortAttributes, PortState, GidEntry } from './context';
export { gidBytes, gidString, normalizeGid } from './gid';
