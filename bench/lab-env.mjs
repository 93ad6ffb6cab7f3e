// The lab's two devices and their IPv4 addresses, as `rdma-ccm lab` tells a command (RDMA_CCM_LAB_DEVICES,
// RDMA_CCM_LAB_ADDRS): a guest has rxe0/rxe1 on 10.99.0.1/.2, a host with rdma_rxe other names.
export const [DEV_A, DEV_B] = (process.env.RDMA_CCM_LAB_DEVICES ?? 'rxe0,rxe1').split(',');
export const [ADDR_A, ADDR_B] = (process.env.RDMA_CCM_LAB_ADDRS ?? '10.99.0.1,10.99.0.2').split(',');
