// The node's check of its own wire encoding, before it listens: the status block it has published reads
// back as itself, and each block it will send (connect, accept and reject data, hello, commit) decodes
// back to what was encoded under the configured cluster id and secret. A mismatch (a broken build, an
// unusable secret) fails start() before any partner sees it. It also means the first partner's handshake
// does not pay for the first run of this code in a process that has just started.
import type { Core } from './core';
import { nonce } from './core';
import { decodeCommit, decodeHello, encodeCommit, encodeHello } from './wire/mailbox';
import {
  decodeAccept,
  decodeConnect,
  decodeReject,
  encodeAccept,
  encodeConnect,
  encodeReject,
} from './wire/private-data';
import { decodeStatus } from './wire/status-block';
import { codeError } from '../errors';

export function selfCheck(core: Core): void {
  const { clusterId, nodeId, generation, secret } = core.cfg;
  const me = { clusterId, nodeId, generation };
  const regions = core.regions(0);
  const n = nonce();
  const request = { generation, attempt: 1 };
  const checks: [string, () => boolean][] = [
    [
      'status block',
      () => {
        const s = decodeStatus(core.endpoint.status, clusterId, secret);
        return s.nodeId === nodeId && s.generation === generation;
      },
    ],
    [
      'connect data',
      () =>
        decodeConnect(encodeConnect({ ...me, target: nodeId, attempt: 1 }, secret), clusterId, secret)
          .generation === generation,
    ],
    [
      'accept data',
      () =>
        decodeAccept(
          encodeAccept({ ...me, responderNonce: n, regions }, request, secret),
          clusterId,
          request,
          secret,
        ).regions.slotAddr === regions.slotAddr,
    ],
    [
      'reject data',
      () => decodeReject(encodeReject({ clusterId, reason: 'SHUTTING_DOWN' }))?.reason === 'SHUTTING_DOWN',
    ],
    [
      'hello',
      () =>
        decodeHello(encodeHello({ ...me, nonce: n, responderNonce: n, regions }, secret), clusterId, secret)
          ?.nonce === n,
    ],
    [
      'commit',
      () =>
        decodeCommit(encodeCommit({ ...me, nonce: n, responderNonce: n }, secret), clusterId, secret)
          ?.nonce === n,
    ],
  ];
  for (const [block, ok] of checks) {
    let passed = false;
    let why = 'decoded to other values';
    try {
      passed = ok();
    } catch (e) {
      why = (e as Error).message;
    }
    if (!passed) throw codeError('ERR_CCM_SELF_CHECK', `self-check of the ${block} failed: ${why}`);
  }
}
