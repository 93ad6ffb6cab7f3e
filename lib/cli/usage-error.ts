// A command line the CLI cannot run: its message is printed with the command's usage, exit code 2.
export class UsageError extends Error {
  /** Always `'ERR_CCM_USAGE'`. */
  readonly code = 'ERR_CCM_USAGE';
}
