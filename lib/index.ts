// First: with RDMA_CCM_CODE_CACHE set, the package's other files load through the code cache.
import './code-cache';
export * from './verbs';
export { RdmaError, isRdmaError } from './errors';
