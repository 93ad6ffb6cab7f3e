// The cluster connection manager.
export {};
