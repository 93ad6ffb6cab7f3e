// RDMA connection management (librdmacm): see the verbs layer for the objects a connection uses.
export {};
