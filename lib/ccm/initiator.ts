// The initiator's side of the handshake, all one-sided against the partner's NIC:
//   connect (CM, private data) → 1 READ status → 2 WRITE hello → 3 READ until echoed → 4 WRITE commit.
// Each step runs only after the previous one succeeded; a failure names its step.
import type { ResolvedPartner } from './config';
import { Core, nonce, sleep } from './core';
import type { HandshakeStep } from './events';
import { HandshakeError } from './handshake-error';
import type { Link } from './transport';
import { AcceptData, decodeAccept, encodeConnect } from './wire/private-data';
import { encodeCommit, encodeHello, type RegionCoords } from './wire/mailbox';
import { decodeStatus, StatusBlock } from './wire/status-block';
import { ProtocolError } from './wire/errors';
import { DOORBELL, doorbell, doorbellKind, SLOT } from './wire/layout';

export interface Initiated {
  link: Link;
  accept: AcceptData;
  status: StatusBlock;
  /** The nonce of the hello the partner echoed: with the responder's, it makes the session's epoch. */
  nonce: bigint;
}

/** Torn reads (the partner updating its block mid-READ) fail the checksum; a few re-reads settle it. */
const TORN_READ_RETRIES = 3;
/** A hello that is not echoed in time is written once more (new nonce) before the attempt fails. */
const HELLO_ATTEMPTS = 2;

/**
 * `attempt` numbers this node's attempts within its boot (rising): with a secret, the partner takes each
 * request once, so a recorded one cannot be replayed. The accept is authenticated before anything of
 * this node's memory is revealed in the hello.
 */
export async function initiate(
  core: Core,
  partner: ResolvedPartner,
  attempt: number,
  linkIndex: number,
  signal: AbortSignal,
  step: (s: HandshakeStep, detail?: string) => void,
): Promise<Initiated> {
  const { cfg } = core;
  const slot = core.slotOf(partner);
  const request = { generation: cfg.generation, attempt };
  step(
    'connect',
    `link ${linkIndex}: ${cfg.addresses[linkIndex]} → ${partner.addresses[linkIndex]}:${partner.port}`,
  );
  const link = await core.endpoint.connect({
    address: partner.addresses[linkIndex],
    port: partner.port,
    slot,
    link: linkIndex,
    privateData: encodeConnect(
      {
        clusterId: cfg.clusterId,
        nodeId: cfg.nodeId,
        generation: cfg.generation,
        target: partner.nodeId,
        attempt,
      },
      cfg.secret,
    ),
    timeoutMs: cfg.connectTimeoutMs,
    signal,
  });
  try {
    signal.throwIfAborted();
    let accept: AcceptData;
    try {
      accept = decodeAccept(link.privateData, cfg.clusterId, request, cfg.secret);
    } catch (e) {
      throw new HandshakeError(
        'connect',
        (e as ProtocolError).code,
        `partner's accept rejected: ${(e as Error).message}`,
      );
    }
    if (accept.nodeId !== partner.nodeId)
      throw new HandshakeError(
        'connect',
        'ERR_CCM_WRONG_NODE',
        `node ${accept.nodeId} answered at the address of partner ${partner.nodeId}`,
      );

    const bell = new EchoBell(link);
    step('read-status');
    const status = await readStatus(link, core, accept, 'read-status', signal);
    signal.throwIfAborted();
    const unfit = core.unfitPartner(status);
    if (unfit) throw new HandshakeError('read-status', 'ERR_CCM_NOT_PERSISTENT', unfit);

    const mailbox = accept.regions.slotAddr;
    for (let hellos = 1; ; hellos++) {
      // Our own slot for the partner is cleared before it learns where it is, so no stale heartbeat counts.
      core.resetSlot(slot);
      const n = nonce();
      step('write-hello', hellos > 1 ? `again (hello ${hellos})` : undefined);
      const hello = encodeHello(
        {
          clusterId: cfg.clusterId,
          nodeId: cfg.nodeId,
          generation: cfg.generation,
          nonce: n,
          responderNonce: accept.responderNonce,
          regions: core.regions(slot, linkIndex),
        },
        cfg.secret,
      );
      await write(
        link,
        hello,
        mailbox + BigInt(SLOT.hello),
        accept.regions.slotRkey,
        'write-hello',
        doorbell(DOORBELL.hello),
      );
      signal.throwIfAborted();

      step('read-echo');
      const echoed = await waitEcho(link, core, accept, n, bell, signal);
      if (!echoed) {
        if (hellos < HELLO_ATTEMPTS) continue;
        throw new HandshakeError(
          'read-echo',
          'ERR_CCM_ECHO_TIMEOUT',
          `partner did not echo the hello within ${cfg.echoTimeoutMs} ms`,
        );
      }

      signal.throwIfAborted();
      step('write-commit');
      const commit = encodeCommit(
        {
          clusterId: cfg.clusterId,
          nodeId: cfg.nodeId,
          generation: cfg.generation,
          nonce: n,
          responderNonce: accept.responderNonce,
        },
        cfg.secret,
      );
      await write(
        link,
        commit,
        mailbox + BigInt(SLOT.commit),
        accept.regions.slotRkey,
        'write-commit',
        doorbell(DOORBELL.commit),
      );
      bell.done();
      return { link, accept, status: echoed, nonce: n };
    }
  } catch (e) {
    link.close();
    throw e;
  }
}

async function write(
  link: Link,
  bytes: Uint8Array,
  addr: bigint,
  rkey: number,
  step: HandshakeStep,
  imm: number,
): Promise<void> {
  try {
    await link.write(bytes, addr, rkey, imm);
  } catch (e) {
    throw new HandshakeError(step, (e as { code?: string }).code ?? 'ERR_UNKNOWN', (e as Error).message);
  }
}

async function readStatus(
  link: Link,
  core: Core,
  accept: AcceptData,
  step: HandshakeStep,
  signal: AbortSignal,
): Promise<StatusBlock> {
  try {
    return await readPartnerStatus(
      link,
      core,
      accept.regions,
      { nodeId: accept.nodeId, generation: accept.generation },
      core.cfg.pollMs,
      signal,
    );
  } catch (e) {
    if (e instanceof ProtocolError) throw new HandshakeError(step, e.code, e.message);
    throw new HandshakeError(step, (e as { code?: string }).code ?? 'ERR_UNKNOWN', (e as Error).message);
  }
}

/**
 * RDMA READs a partner's status block and validates it as the block of `expect` (node id and boot
 * generation). A torn READ (the partner publishing mid-READ) fails its checksum and is read again, a few
 * times, `retryMs` apart. Throws a ProtocolError for a block that is not right, or the READ's error.
 */
export async function readPartnerStatus(
  link: Link,
  core: Core,
  r: RegionCoords,
  expect: { nodeId: number; generation: bigint },
  retryMs: number,
  signal?: AbortSignal,
): Promise<StatusBlock> {
  for (let i = 0; ; i++) {
    const bytes = await link.read(r.statusAddr, r.statusRkey, r.statusLen);
    try {
      const s = decodeStatus(bytes, core.cfg.clusterId, core.cfg.secret);
      if (s.nodeId !== expect.nodeId)
        throw new ProtocolError(
          'ERR_CCM_WRONG_NODE',
          'status',
          `status block of node ${s.nodeId}, expected ${expect.nodeId}`,
        );
      if (s.generation !== expect.generation)
        throw new ProtocolError(
          'ERR_CCM_GENERATION',
          'status',
          `status block generation ${s.generation} differs from the partner's ${expect.generation}`,
        );
      return s;
    } catch (e) {
      if (e instanceof ProtocolError && e.code === 'ERR_CCM_CHECKSUM' && i < TORN_READ_RETRIES) {
        await sleep(retryMs, signal);
        continue;
      }
      throw e;
    }
  }
}

/**
 * The responder's echo doorbell: it rings once its echo is published, so step 3 READs at once instead
 * of waiting out a re-read interval. Without the bell (a responder that does not ring, or a lost one)
 * the re-reads still find the echo.
 */
class EchoBell {
  private rung = false;
  private wake: (() => void) | null = null;
  private finished = false;

  constructor(link: Link) {
    link.onDoorbell((imm) => {
      if (this.finished || doorbellKind(imm) !== DOORBELL.echo) return;
      this.rung = true;
      this.wake?.();
    });
  }

  /** Resolves when the bell rang (since the last wait) or after `ms`. */
  wait(ms: number, signal: AbortSignal): Promise<void> {
    if (this.rung) {
      this.rung = false;
      return Promise.resolve();
    }
    if (signal.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', abort);
        this.wake = null;
        this.rung = false;
        resolve();
      };
      const abort = () => {
        clearTimeout(t);
        this.wake = null;
        reject(signal.reason);
      };
      const t = setTimeout(done, ms);
      this.wake = done;
      signal.addEventListener('abort', abort, { once: true });
    });
  }

  done(): void {
    this.finished = true;
    this.wake = null;
  }
}

/** Step 3: READ the status block when the echo bell rings (or a re-read interval passes) until it echoes our hello; null when the bound passes. */
async function waitEcho(
  link: Link,
  core: Core,
  accept: AcceptData,
  n: bigint,
  bell: EchoBell,
  signal: AbortSignal,
): Promise<StatusBlock | null> {
  const deadline = performance.now() + core.cfg.echoTimeoutMs;
  let interval = Math.max(1, core.cfg.pollMs / 2);
  for (;;) {
    await bell.wait(Math.min(interval, Math.max(1, deadline - performance.now())), signal);
    const s = await readStatus(link, core, accept, 'read-echo', signal);
    // The echo sits in the partner's slot for us; which slot that is, the block itself says (node id).
    if (
      s.echoes.some(
        (e) => e && e.nodeId === core.cfg.nodeId && e.generation === core.cfg.generation && e.nonce === n,
      )
    )
      return s;
    if (performance.now() >= deadline) return null;
    interval = Math.min(interval * 2, 50);
  }
}
