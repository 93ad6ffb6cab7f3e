// rdma-ccm/cm: RDMA connection management over librdmacm, event-driven.
export { contextFor, portFor, releaseRemovedDevices } from './context';
export { createQueuePair, QueuePairOptions } from './own-qp';
export {
  connect,
  ConnectOptions,
  MAX_CONNECT_PRIVATE_DATA,
  MAX_ACCEPT_PRIVATE_DATA,
  MAX_REJECT_PRIVATE_DATA,
} from './connect';
export { listen, Listener, ConnectRequest, IncomingRequest, AcceptOptions } from './listener';
export { Connection, ConnectionEvents, CmEventInfo, Endpoint } from './connection';
export { CmError } from './errors';
export {
  connectDatagram,
  listenDatagram,
  openDatagram,
  DatagramEndpoint,
  DatagramEndpointEvents,
  DatagramRequest,
  DatagramPeer,
  MulticastGroup,
  DatagramQpOptions,
  DatagramConnectOptions,
  DatagramAcceptOptions,
  MAX_UD_CONNECT_PRIVATE_DATA,
  MAX_UD_ANSWER_PRIVATE_DATA,
} from './datagram';
