// The responder's side: after accepting the CM request, this node's software only watches its own
// memory for the partner's slot. A valid hello made for this accept (it carries the responder's nonce,
// under the MAC with a secret) is echoed in the status block; the matching commit completes the
// handshake. The partner's regions are then checked with one READ of its status block. The slot is
// scanned on every tick of the node's poll timer, and at once when the initiator's hello or commit
// doorbell rings; the echo rings the initiator's doorbell in turn.
import type { ResolvedPartner } from './config';
import type { Core } from './core';
import { readPartnerStatus } from './initiator';
import type { Link } from './transport';
import type { ConnectData } from './wire/private-data';
import { Commit, decodeCommit, decodeHello, Hello } from './wire/mailbox';
import type { StatusBlock } from './wire/status-block';
import { ProtocolError } from './wire/errors';
import { COMMIT, DOORBELL, doorbell, doorbellKind, HELLO, SLOT } from './wire/layout';

export type ResponderResult =
  | { ok: true; hello: Hello; status: StatusBlock }
  | { ok: false; step: 'accept'; code: string; reason: string };

export class Responder {
  private hello: Hello | null = null;
  private readonly deadline: number;
  private lastError = '';
  private done = false;
  private verifying = false;
  readonly slot: number;

  constructor(
    private readonly core: Core,
    readonly partner: ResolvedPartner,
    readonly request: ConnectData,
    /** This handshake's nonce, sent in the accept: hello and commit must carry it. */
    private readonly responderNonce: bigint,
    readonly link: Link,
    private readonly finish: (r: ResponderResult) => void,
  ) {
    this.slot = core.slotOf(partner);
    this.deadline = performance.now() + core.cfg.connectTimeoutMs + 2 * core.cfg.echoTimeoutMs;
    link.onClose((reason) =>
      this.fail('ERR_CM_DISCONNECTED', `connection ended during the handshake: ${reason}`),
    );
    link.onDoorbell((imm) => {
      const kind = doorbellKind(imm);
      if (kind === DOORBELL.hello || kind === DOORBELL.commit) this.poll(performance.now());
    });
  }

  private readHello(slot: Uint8Array): Hello | null {
    const h = decodeHello(
      slot.subarray(SLOT.hello, SLOT.hello + HELLO.size),
      this.core.cfg.clusterId,
      this.core.cfg.secret,
    );
    if (!h) return null;
    if (h.responderNonce !== this.responderNonce)
      throw new ProtocolError(
        'ERR_CCM_FIELD',
        'hello',
        'hello made for another handshake (responder nonce differs)',
      );
    if (h.nodeId !== this.request.nodeId || h.generation !== this.request.generation)
      throw new ProtocolError(
        'ERR_CCM_FIELD',
        'hello',
        `hello from node ${h.nodeId} generation ${h.generation}, but the connection is from node ${this.request.nodeId} generation ${this.request.generation}`,
      );
    return h;
  }

  private matches(c: Commit, h: Hello): boolean {
    return (
      c.nodeId === h.nodeId &&
      c.generation === h.generation &&
      c.nonce === h.nonce &&
      c.responderNonce === this.responderNonce
    );
  }

  /** One scan of our memory for this partner's slot. */
  poll(now: number): void {
    if (this.done || this.verifying) return;
    const slot = this.core.localSlot(this.slot);
    try {
      if (!this.hello) {
        const h = this.readHello(slot);
        if (h) this.accepted(h);
      } else {
        const c = decodeCommit(
          slot.subarray(SLOT.commit, SLOT.commit + COMMIT.size),
          this.core.cfg.clusterId,
          this.core.cfg.secret,
        );
        // A newer hello (re-sent after an echo timeout) replaces the old one; it is echoed first.
        const h = this.readHello(slot);
        if (h && h.nonce !== this.hello.nonce) this.accepted(h);
        else if (c && this.matches(c, this.hello)) void this.verify();
        else if (c)
          this.report(new ProtocolError('ERR_CCM_FIELD', 'commit', 'commit does not match the echoed hello'));
      }
    } catch (e) {
      if (e instanceof ProtocolError) this.report(e);
      else throw e;
    }
    if (!this.done && now > this.deadline)
      this.fail(
        'ERR_CCM_HANDSHAKE_TIMEOUT',
        this.lastError
          ? `no valid hello/commit in time (last: ${this.lastError})`
          : 'no hello/commit in time',
      );
  }

  private accepted(h: Hello): void {
    this.hello = h;
    this.core.status.setEcho(this.slot, { nodeId: h.nodeId, generation: h.generation, nonce: h.nonce });
    this.core.emit({
      type: 'step',
      partner: this.partner.nodeId,
      role: 'responder',
      step: 'echo',
      detail: `nonce ${h.nonce.toString(16)}`,
    });
    // A zero-length WRITE_WITH_IMM into the initiator's slot for us: it READs the echo at once.
    // If it fails, the link ends, and that ends the handshake.
    this.link
      .write(new Uint8Array(0), h.regions.slotAddr, h.regions.slotRkey, doorbell(DOORBELL.echo))
      .catch(() => {});
  }

  /** Reports each distinct bad block once; it may still be overwritten by a good one before the deadline. */
  private report(e: ProtocolError): void {
    if (e.message === this.lastError) return;
    this.lastError = e.message;
    this.core.emit({
      type: 'protocol-error',
      partner: this.partner.nodeId,
      block: e.block,
      code: e.code,
      reason: e.message,
    });
  }

  private async verify(): Promise<void> {
    const h = this.hello!;
    this.verifying = true;
    try {
      // A torn READ (the initiator publishing while we read) is read again, as the initiator's step 1 does.
      const s = await readPartnerStatus(
        this.link,
        this.core,
        h.regions,
        { nodeId: h.nodeId, generation: h.generation },
        this.core.cfg.pollMs,
      );
      if (this.done) return;
      const unfit = this.core.unfitPartner(s);
      if (unfit) return this.fail('ERR_CCM_NOT_PERSISTENT', unfit);
      this.done = true;
      this.finish({ ok: true, hello: h, status: s });
    } catch (e) {
      this.fail(
        (e as { code?: string }).code ?? 'ERR_UNKNOWN',
        `reading the initiator's status block: ${(e as Error).message}`,
      );
    } finally {
      this.verifying = false;
    }
  }

  fail(code: string, reason: string): void {
    if (this.done) return;
    this.done = true;
    this.core.status.setEcho(this.slot, null);
    this.link.close();
    this.finish({ ok: false, step: 'accept', code, reason });
  }
}
