// The session's initiator connects every link the handshake did not run on, and connects again each one
// that fails, with backoff, for as long as the session lasts. A join is a CM connect whose private data
// is keyed with the session's link key (wire JOIN_PD): the partner takes it only into that session.
import { Backoff } from './backoff';
import type { ResolvedPartner } from './config';
import type { Core } from './core';
import type { Session } from './session';
import { SessionLink } from './session-link';
import { decodeJoinAccept, decodeReject, encodeJoin } from './wire/private-data';
import { abortError, codeError } from '../errors';

export class LinkJoiner {
  private readonly wakes = new Map<number, () => void>();
  private readonly stop = new AbortController();
  /** Join attempts per link so far, and the last failure, for `rdma-ccm status`. */
  readonly attempts = new Map<number, number>();
  readonly lastError = new Map<number, string>();

  constructor(
    private readonly core: Core,
    private readonly partner: ResolvedPartner,
    private readonly session: Session,
  ) {}

  /** Starts one loop per link of the session other than those up. */
  start(): void {
    for (let k = 0; k < this.session.linkCount; k++) void this.run(k);
  }

  /** Link `k` went down: try it again now (its loop waits otherwise). */
  wake(k: number): void {
    this.wakes.get(k)?.();
  }

  close(): void {
    this.stop.abort(abortError('session closed'));
    for (const w of this.wakes.values()) w();
  }

  private idle(k: number, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        if (this.wakes.get(k) === done) this.wakes.delete(k);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wakes.set(k, done);
    });
  }

  private async run(k: number): Promise<void> {
    const backoff = new Backoff(this.core.cfg.backoff);
    while (!this.session.closed && !this.core.stopping && !this.stop.signal.aborted) {
      if (!this.session.missingLinks().includes(k)) {
        backoff.reset();
        await this.idle(k, 60_000);
        continue;
      }
      const started = performance.now();
      try {
        const l = await this.join(k);
        this.lastError.delete(k);
        this.session.addLink(l);
        continue;
      } catch (e) {
        if (this.stop.signal.aborted) return;
        // NO_SESSION included: the responder makes its session when its mailbox scan finds the commit,
        // which a join sent at once can overtake. Had it none at all, ours ends too, and this loop with it.
        this.lastError.set(k, (e as Error).message);
      }
      await this.idle(k, Math.max(0, backoff.next() - (performance.now() - started)));
    }
  }

  private async join(k: number): Promise<SessionLink> {
    const { cfg } = this.core;
    const s = this.session;
    const slot = this.core.slotOf(this.partner);
    const attempt = ++s.joinAttempts;
    this.attempts.set(k, (this.attempts.get(k) ?? 0) + 1);
    const mine = this.core.regions(slot, k);
    const link = await this.core.endpoint
      .connect({
        address: this.partner.addresses[k],
        port: this.partner.port,
        slot,
        link: k,
        privateData: encodeJoin(
          {
            clusterId: cfg.clusterId,
            nodeId: cfg.nodeId,
            link: k,
            attempt,
            statusRkey: mine.statusRkey,
            slotRkey: mine.slotRkey,
          },
          s.linkKey,
        ),
        timeoutMs: cfg.connectTimeoutMs,
        signal: this.stop.signal,
      })
      .catch((e: Error & { privateData?: Uint8Array }) => {
        let rej = null;
        try {
          rej = decodeReject(e.privateData);
        } catch {
          // not one of ours
        }
        throw rej
          ? codeError('ERR_CCM_LINK_REJECTED', `partner rejected the link: ${rej.reason}`, {
              reason: rej.reason,
            })
          : e;
      });
    try {
      const a = decodeJoinAccept(link.privateData, cfg.clusterId, { attempt, link: k }, s.linkKey);
      if (a.nodeId !== this.partner.nodeId)
        throw new Error(`node ${a.nodeId} accepted link ${k} of partner ${this.partner.nodeId}`);
      return new SessionLink(k, link, cfg.addresses[k], this.partner.addresses[k], {
        ...s.partnerRegions,
        statusRkey: a.statusRkey,
        slotRkey: a.slotRkey,
      });
    } catch (e) {
      link.close();
      throw e;
    }
  }
}
