// Optional shared cluster secret: hellos, echoes and commits carry an HMAC-SHA256 over their fields.
// Without a secret the MAC field is zero and the "authenticated" flag is clear.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const MAC_SIZE = 32;

export function mac(secret: Uint8Array | undefined, ...parts: Uint8Array[]): Uint8Array {
  if (!secret) return new Uint8Array(MAC_SIZE);
  const h = createHmac('sha256', secret);
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

export function macEquals(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
