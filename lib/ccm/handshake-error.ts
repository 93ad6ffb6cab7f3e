// A failed handshake step, named, with the reason and whether the connection itself is still usable.
import type { HandshakeStep } from './events';

export class HandshakeError extends Error {
  constructor(
    readonly step: HandshakeStep,
    readonly code: string,
    message: string,
  ) {
    super(`${step}: ${message}`);
    this.name = 'HandshakeError';
  }
}

export function codeOf(e: unknown): string {
  const c = (e as { code?: unknown })?.code;
  if (typeof c === 'string') return c;
  if ((e as Error)?.name === 'AbortError') return 'ABORT_ERR';
  return 'ERR_UNKNOWN';
}
