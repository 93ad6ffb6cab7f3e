// One readable line per CCM event, for logs and the demo's timeline.
import type { CcmEvent } from './events';

export function formatEvent(e: CcmEvent): string {
  const who = `node ${e.node}`;
  const to = 'partner' in e && e.partner !== undefined ? ` ↔ ${e.partner}` : '';
  const head = `${String(e.ms).padStart(7)} ms  ${who}${to}  `;
  switch (e.type) {
    case 'listening':
      return `${head}listening on ${e.address}:${e.port} (generation ${e.generation})`;
    case 'state':
      return `${head}state ${e.from} → ${e.to}`;
    case 'stalled':
      return `${head}STALLED for ${e.stalledMs} ms${e.cause === 'witness' ? " (this node's witness heartbeat did not land)" : ''}: state ${e.from} → ${e.to} until each partner is heard again`;
    case 'heard-since-stall':
      return `${head}heard since the stall (${e.by}): it does not hold this node's resources${e.unheard.length ? `; still unheard: ${e.unheard.join(', ')}` : ''}`;
    case 'poison-pill':
      return `${head}POISON PILL: the partner's witness sector says it took over this boot (${e.generation}); out of ACTIVE`;
    case 'attempt':
      return `${head}attempt ${e.attempt}`;
    case 'step':
      return `${head}${e.role} step ${e.step}${e.detail ? ` (${e.detail})` : ''}`;
    case 'attempt-failed':
      return `${head}${e.role} ${e.step} failed: ${e.code}: ${e.reason}${e.retryInMs !== undefined ? `; retry in ${e.retryInMs} ms` : ''}`;
    case 'rejected':
      return `${head}rejected a connection: ${e.reason} (${e.detail})`;
    case 'protocol-error':
      return `${head}refused ${e.block}: ${e.code}: ${e.reason}`;
    case 'established':
      return `${head}ESTABLISHED as ${e.role} in ${e.handshakeMs} ms (partner generation ${e.partnerGeneration}, state ${e.partnerState})`;
    case 'partner-state':
      return `${head}partner state ${e.from} → ${e.to}`;
    case 'partner-down':
      return `${head}PARTNER DOWN after ${e.detectionMs} ms: ${e.reason} (witness: ${e.witness})`;
    case 'interconnect-down':
      return `${head}INTERCONNECT DOWN (partner alive, witness: ${e.witness}): ${e.reason}`;
    case 'fencing':
      return `${head}fencing partner (attempt ${e.attempt}${e.delayMs ? `, after waiting ${e.delayMs} ms` : ''})`;
    case 'fence-failed':
      return `${head}FENCE FAILED (attempt ${e.attempt}): ${e.error}; again in ${e.retryInMs} ms`;
    case 'takeover-safe':
      return `${head}TAKEOVER SAFE (by ${e.by}; partner generation ${e.generation})`;
    case 'takeover-unsafe':
      return `${head}TAKEOVER NOT SAFE (partner generation ${e.generation}): ${e.reason}`;
    case 'takeover':
      return `${head}took over the partner's resources (generation ${e.generation})`;
    case 'waiting-for-giveback':
      return `${head}WAITING FOR GIVEBACK: the partner holds this node's resources${e.replayed ? ` (it replayed this node's log through ${e.replayed.through})` : ''}`;
    case 'giveback':
      return `${head}giveback ${e.direction}${e.replayed ? ` (the partner replayed this node's log through ${e.replayed.through})` : ''}`;
    case 'witness-error':
      return `${head}witness ${e.error === null ? 'readable again' : `I/O failed: ${e.error}`}`;
    case 'link-up':
      return `${head}link ${e.link} up: ${e.localAddress} → ${e.remoteAddress} (${e.linksUp} up)`;
    case 'link-down':
      return `${head}LINK ${e.link} DOWN${e.detectionMs ? ` after ${e.detectionMs} ms` : ''}: ${e.reason} (${e.linksUp} up)`;
    case 'partner-rebooted':
      return `${head}partner rebooted: generation ${e.oldGeneration} → ${e.newGeneration}`;
    case 'session-closed':
      return `${head}session closed: ${e.reason}`;
    case 'listener-error':
      return `${head}a listener of ${e.event} threw: ${e.message}`;
    case 'stopped':
      return `${head}stopped`;
  }
}

/** JSON with bigints as strings. */
export function eventJson(e: CcmEvent): string {
  return JSON.stringify(e, (_k, v) => (typeof v === 'bigint' ? v.toString() : v));
}
