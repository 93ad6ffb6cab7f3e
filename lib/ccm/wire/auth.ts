// Optional shared cluster secret: every block a node sends carries an HMAC-SHA256 over its fields, and a
// node configured with the secret refuses any block without a valid one. Without a secret the MAC field
// is zero (for isolated fabrics only, docs/protocol.md).
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Bytes of an HMAC-SHA256 MAC field (32); a connect request carries only its first 16. */
export const MAC_SIZE = 32;

/** HMAC-SHA256 of the concatenated `parts` keyed with `secret`; {@link MAC_SIZE} zero bytes without a secret. */
export function mac(secret: Uint8Array | undefined, ...parts: Uint8Array[]): Uint8Array {
  if (!secret) return new Uint8Array(MAC_SIZE);
  const h = createHmac('sha256', secret);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

/** Constant-time comparison of two MACs (false when their lengths differ). */
export function macEquals(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * A session's epoch: 64 bits both sides derive from the handshake's two nonces (keyed with the secret
 * when there is one, so only the two partners can compute it). Heartbeat, ack and log words carry it;
 * a word of another session, replayed or forged, does not.
 * It is the first 8 bytes, little-endian, of HMAC-SHA256(secret, "rdma-ccm session epoch" ‖ initiator
 * nonce u64 ‖ responder nonce u64), or of plain SHA-256 of the same bytes without a secret; never 0 (0 becomes 1).
 */
export function sessionEpoch(
  secret: Uint8Array | undefined,
  initiatorNonce: bigint,
  responderNonce: bigint,
): bigint {
  const b = new Uint8Array(16);
  const dv = new DataView(b.buffer);
  dv.setBigUint64(0, initiatorNonce, true);
  dv.setBigUint64(8, responderNonce, true);
  const d = secret
    ? createHmac('sha256', secret).update('rdma-ccm session epoch').update(b).digest()
    : createHash('sha256').update('rdma-ccm session epoch').update(b).digest();
  const e = d.readBigUInt64LE(0);
  return e === 0n ? 1n : e;
}

/**
 * The key of a session's link joins: HMAC-SHA256(secret, "rdma-ccm link join" ‖ epoch u64), or without a
 * secret SHA-256 of the same bytes. Only the two ends of the session know the epoch (with a secret, only
 * they can derive it), so a join keyed with it is bound to that session: one made for another session or
 * another boot does not verify. Without a secret this guards against accidents, not attackers.
 */
export function joinKey(secret: Uint8Array | undefined, epoch: bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, epoch, true);
  const d = secret
    ? createHmac('sha256', secret).update('rdma-ccm link join').update(b).digest()
    : createHash('sha256').update('rdma-ccm link join').update(b).digest();
  return new Uint8Array(d);
}
