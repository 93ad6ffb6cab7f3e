// Every CCM event: one shape, a type, when it happened, and the nodes involved.
import type { NodeState } from './wire/layout';

export type HandshakeStep = 'connect' | 'read-status' | 'write-hello' | 'read-echo' | 'write-commit';
export type Role = 'initiator' | 'responder';

interface Base {
  /** Wall-clock time, ISO 8601. */
  time: string;
  /** Milliseconds since this CCM started (monotonic). */
  ms: number;
  node: number;
}

export type CcmEvent = Base &
  (
    | { type: 'listening'; address: string; port: number; generation: string }
    | { type: 'state'; from: NodeState; to: NodeState }
    | { type: 'attempt'; partner: number; attempt: number }
    | { type: 'step'; partner: number; role: Role; step: HandshakeStep | 'echo' | 'accept'; detail?: string }
    | { type: 'attempt-failed'; partner: number; role: Role; step: HandshakeStep | 'accept'; code: string; reason: string; retryInMs?: number }
    | { type: 'rejected'; partner?: number; reason: string; detail: string }
    | { type: 'protocol-error'; partner?: number; block: string; code: string; reason: string }
    | { type: 'established'; partner: number; role: Role; partnerGeneration: string; partnerState: NodeState; handshakeMs: number }
    | { type: 'partner-state'; partner: number; from: NodeState; to: NodeState }
    | { type: 'partner-down'; partner: number; reason: string; detectionMs: number }
    | { type: 'partner-rebooted'; partner: number; oldGeneration: string; newGeneration: string }
    | { type: 'session-closed'; partner: number; reason: string }
    | { type: 'listener-error'; event: string; message: string }
    | { type: 'stopped' }
  );

export type CcmEventType = CcmEvent['type'];
