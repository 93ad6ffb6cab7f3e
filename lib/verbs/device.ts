// Device discovery.
import { native } from '../native';

/** One RDMA device as listed by ibv_get_device_list(3). */
export interface DeviceInfo {
  /** Device name (e.g. `rxe0`, `mlx5_0`), as taken by `new Context(name)`. */
  name: string;
  /** Node GUID as four hex groups. */
  guid: string;
  /** Node type (ibv_node_type without the IBV_NODE_ prefix); RoCE and InfiniBand adapters are `CA`. */
  nodeType: 'CA' | 'SWITCH' | 'ROUTER' | 'RNIC' | 'USNIC' | 'USNIC_UDP' | 'UNSPECIFIED' | 'UNKNOWN';
  /** Transport (ibv_transport_type without the IBV_TRANSPORT_ prefix); RoCE devices report `IB`. */
  transport: 'IB' | 'IWARP' | 'USNIC' | 'USNIC_UDP' | 'UNSPECIFIED' | 'UNKNOWN';
}

/** Lists the RDMA devices (ibv_get_device_list(3)); an empty list when the kernel has none (or no RDMA support). */
export function getDevices(): DeviceInfo[] {
  return native.getDeviceList();
}
