export * from './verbs';
export { RdmaError, isRdmaError } from './errors';
