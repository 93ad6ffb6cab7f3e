// The CCM's wire formats: every byte a partner reads from or writes to this node.
export * from './layout';
export * from './errors';
export { crc32c } from './crc32c';
export { MAC_SIZE, sessionEpoch, joinKey } from './auth';
export * from './status-block';
export * from './mailbox';
export * from './private-data';
export * from './log-record';
export * from './witness-sector';
export * from './nvram-header';
export * from './log-tail';
