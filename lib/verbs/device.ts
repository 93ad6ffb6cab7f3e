// Device discovery.
import { native } from '../native';

export interface DeviceInfo {
  name: string;
  /** Node GUID as four hex groups. */
  guid: string;
  nodeType: 'CA' | 'SWITCH' | 'ROUTER' | 'RNIC' | 'USNIC' | 'USNIC_UDP' | 'UNSPECIFIED' | 'UNKNOWN';
  transport: 'IB' | 'IWARP' | 'USNIC' | 'USNIC_UDP' | 'UNSPECIFIED' | 'UNKNOWN';
}

/** Lists the RDMA devices; an empty list when the kernel has none (or no RDMA support). */
export function getDevices(): DeviceInfo[] {
  return native.getDeviceList();
}
