// Every CCM event: one shape, a type, when it happened, and the nodes involved.
import type { NodeState } from './wire/layout';

/**
 * A step of the initiator's handshake: the CM connect, then 1 READ of the partner's status block,
 * 2 WRITE of the hello, 3 READ until the echo appears, 4 WRITE of the commit.
 */
export type HandshakeStep = 'connect' | 'read-status' | 'write-hello' | 'read-echo' | 'write-commit';
/** This node's side of a handshake or session: it connected (initiator) or accepted (responder). */
export type Role = 'initiator' | 'responder';

/** The fields every {@link CcmEvent} carries. */
export interface Base {
  /** Wall-clock time, ISO 8601. */
  time: string;
  /** Milliseconds since this CCM started (monotonic). */
  ms: number;
  /** This node's id. */
  node: number;
}

/**
 * An event of a {@link ClusterNode}, emitted both as `'event'` and under its own `type`. Partner ids,
 * like `node`, are node ids; generations are decimal strings of the 64-bit boot generation.
 */
export type CcmEvent = Base &
  (
    | {
        /** The node listens and probes its partners (after `start()`). */
        type: 'listening';
        /** This node's address. */
        address: string;
        /** This node's CM port. */
        port: number;
        /** This node's boot generation. */
        generation: string;
      }
    | {
        /** This node's own state changed (`setState()`, or LEAVING on `stop()`). */
        type: 'state';
        /** The previous state. */
        from: NodeState;
        /** The new state. */
        to: NodeState;
      }
    | {
        /**
         * This node's own timers did not run for `ms` (a paused VM, SIGSTOP, a long garbage collection), or
         * its witness heartbeat did not reach the disk for `ms` (a hung or failing disk): long enough for a
         * partner to judge it down and take its resources over. An ACTIVE node left ACTIVE before doing
         * anything else; it may go ACTIVE again once each partner has shown it does not hold its resources
         * (`heard-since-stall`, after the witness heartbeat landed again; ERR_CCM_STALLED until then).
         */
        type: 'stalled';
        /** The process did not run, or its witness heartbeat did not land. */
        cause: 'process' | 'witness';
        /** How long the stall lasted (ms). */
        stalledMs: number;
        /** The state before. */
        from: NodeState;
        /** The state now (READY if it was ACTIVE). */
        to: NodeState;
      }
    | {
        /**
         * After a stall of this node's (`stalled`), partner `partner` has shown it does not hold this node's
         * resources: a new session's handshake, or a status read of the session that survived the stall
         * posted after it (both nodes paused together). Once no partner is left unheard
         * (`ClusterNode.unheardSinceStall`) and none holds its resources, the node may go ACTIVE again.
         */
        type: 'heard-since-stall';
        /** The partner's node id. */
        partner: number;
        /** How it was heard: a new session's handshake, or a status read of the session that survived. */
        by: 'session' | 'status-read';
        /** Partners still unheard since the stall. */
        unheard: number[];
      }
    | {
        /**
         * The poison pill: partner `partner`'s witness sector says it took over this node's boot, and no
         * session with it says otherwise. This node left ACTIVE at once and waits for its giveback
         * (`waiting-for-giveback` follows).
         */
        type: 'poison-pill';
        /** The partner that took over. */
        partner: number;
        /** This node's boot generation, as the takeover names it. */
        generation: string;
      }
    | {
        /** A connection attempt to a partner starts (this node as initiator). */
        type: 'attempt';
        /** The partner's node id. */
        partner: number;
        /** Attempt number, from 1, rising for the life of this node. */
        attempt: number;
      }
    | {
        /** A handshake step starts. */
        type: 'step';
        /** The partner's node id. */
        partner: number;
        /** This node's side of the handshake. */
        role: Role;
        /** The initiator's steps, or the responder's `accept` (CM accept) and `echo` (echo published). */
        step: HandshakeStep | 'echo' | 'accept';
        /** Free text, e.g. the address connected to or the nonce echoed. */
        detail?: string;
      }
    | {
        /** A handshake attempt failed; as initiator, the next one starts after `retryInMs`. */
        type: 'attempt-failed';
        /** The partner's node id. */
        partner: number;
        /** This node's side of the handshake. */
        role: Role;
        /** The step that failed. */
        step: HandshakeStep | 'accept';
        /** `ERR_WC_*` (a failed work request), `ERR_CM_*`, `ERR_CCM_*` (a refused block) or `REJECTED_<reason>`. */
        code: string;
        /** Human-readable cause. */
        reason: string;
        /** Delay before the next attempt (ms); initiator only. */
        retryInMs?: number;
      }
    | {
        /** This node refused a CM connect request. */
        type: 'rejected';
        /** The requesting node's id, once the request decoded (and, with a secret, authenticated). */
        partner?: number;
        /** The reject reason sent back, e.g. TIE_BREAK, DUPLICATE, NOT_AUTHENTICATED, STALE_REQUEST. */
        reason: string;
        /** What was refused and why, for logs. */
        detail: string;
      }
    | {
        /** A block from a partner or caller failed validation and was refused. */
        type: 'protocol-error';
        /** The partner's node id, when known. */
        partner?: number;
        /** Which block: e.g. `connect`, `status`, `hello`, `commit`, `heartbeat`, `ack`, `log`. */
        block: string;
        /** The error code, e.g. ERR_CCM_AUTH, ERR_CCM_CLUSTER, ERR_CCM_VERSION, ERR_CCM_EPOCH. */
        code: string;
        /** Human-readable cause. */
        reason: string;
      }
    | {
        /** A session with a partner is up. */
        type: 'established';
        /** The partner's node id. */
        partner: number;
        /** This node's side of the handshake that made the session. */
        role: Role;
        /** The partner's boot generation. */
        partnerGeneration: string;
        /** The partner's state, read from its status block during the handshake. */
        partnerState: NodeState;
        /** Duration of the handshake, from the CM connect (initiator) or the accept (responder) (ms). */
        handshakeMs: number;
      }
    | {
        /** The partner's published state changed (seen by polling its status block). */
        type: 'partner-state';
        /** The partner's node id. */
        partner: number;
        /** The previous state. */
        from: NodeState;
        /** The new state. */
        to: NodeState;
      }
    | {
        /**
         * The partner failed: every link went silent past its threshold, or failed (work requests, CM
         * disconnects), with no sign of life from the partner.
         */
        type: 'partner-down';
        /** The partner's node id. */
        partner: number;
        /** Human-readable cause. */
        reason: string;
        /** How long the partner had been silent when it was declared down (ms). */
        detectionMs: number;
        /** What was seen of each link of the session: its index and why it went down. */
        links: {
          /** The link's index. */
          link: number;
          /** Why it went down. */
          reason: string;
        }[];
        /** What the split-brain witness saw: 'stopped', the partner's heartbeat there stopped too; 'none': no witness is configured, the links alone decided. */
        witness: 'none' | 'stopped';
      }
    | {
        /**
         * Every link of the session went down, but the witness shows the partner running (or cannot be
         * read): the interconnect is cut, the partner is not known dead, and taking over is not safe. If
         * the partner's witness heartbeat stops later, `partner-down` follows.
         */
        type: 'interconnect-down';
        /** The partner's node id. */
        partner: number;
        /** Why the session ended. */
        reason: string;
        /** Milliseconds from the session's end to this decision. */
        decisionMs: number;
        /** Each link of the session and why it went down. */
        links: {
          /** The link's index. */
          link: number;
          /** Why it went down. */
          reason: string;
        }[];
        /** 'alive': the partner's witness heartbeat advanced after its links went down; 'unavailable': this node cannot read the witness. */
        witness: 'alive' | 'unavailable';
      }
    | {
        /** The node is about to fence a partner declared down (after its delay, for the higher id). */
        type: 'fencing';
        /** The partner's node id. */
        partner: number;
        /** Attempt number, from 1. */
        attempt: number;
        /** How long the node waited before this attempt (ms; the higher id's delay on the first). */
        delayMs: number;
      }
    | {
        /** The fencing hook failed: no takeover-safe; it is tried again. */
        type: 'fence-failed';
        /** The partner's node id. */
        partner: number;
        /** Attempt number, from 1. */
        attempt: number;
        /** What the hook said. */
        error: string;
        /** When it is tried again (ms). */
        retryInMs: number;
      }
    | {
        /**
         * Taking over the partner's resources cannot split the brain: it was fenced (`by: 'fence'`), or,
         * with no fencing hook configured, the witness showed it stopped (`by: 'witness'`).
         */
        type: 'takeover-safe';
        /** The partner's node id. */
        partner: number;
        /** The boot of the partner that went down, decimal. */
        generation: string;
        /** What made it safe. */
        by: 'fence' | 'witness';
        /** By the witness alone, of a partner that arms a kernel watchdog: the msgwait (ms) waited since its last witness heartbeat. */
        msgwaitMs?: number;
      }
    | {
        /**
         * The witness shows the partner stopped, but nothing makes a takeover safe: with
         * `witness.requirePartnerWatchdog`, its sector arms no kernel watchdog, so it could stall and come
         * back acting. No `takeover-safe` follows by the witness; fence it (a `fence` hook) or check it by hand.
         */
        type: 'takeover-unsafe';
        /** The partner's node id. */
        partner: number;
        /** The boot of the partner that went down, decimal. */
        generation: string;
        /** Why. */
        reason: string;
      }
    | {
        /** This node took over the partner's resources (`ccm.takeover()`): recorded in its status block and on the witness. */
        type: 'takeover';
        /** The partner's node id. */
        partner: number;
        /** The boot of the partner taken over, decimal. */
        generation: string;
      }
    | {
        /** A partner holds this node's resources (its status block or witness sector says so): this node waits for its giveback and may not go ACTIVE. */
        type: 'waiting-for-giveback';
        /** The partner holding them. */
        partner: number;
        /** How far it replayed this node's mirrored log before it took over: the log stream of this node's previous boot, through a sequence (null: it did not say). */
        replayed: ReplayedLog | null;
      }
    | {
        /** Resources went back: this node gave them back (`given`, `ccm.giveback()`), or its partner did (`received`: it may go ACTIVE). */
        type: 'giveback';
        /** The other node. */
        partner: number;
        /** given or received. */
        direction: 'given' | 'received';
        /** Received: how far the partner had replayed this node's log before it took over (null: it did not say). */
        replayed?: ReplayedLog | null;
      }
    | {
        /** This node's own witness I/O failed (`error`), or works again (`error` null). */
        type: 'witness-error';
        /** What failed, or null once it works again. */
        error: string | null;
      }
    | {
        /** A link (address pair) joined a session: the handshake's own link, a further one, or a failed one back. */
        type: 'link-up';
        /** The partner's node id. */
        partner: number;
        /** The link's index: this node's and the partner's address of that rank. */
        link: number;
        /** This node's address of the link. */
        localAddress: string;
        /** The partner's address of the link. */
        remoteAddress: string;
        /** Links of the session up now, this one included. */
        linksUp: number;
      }
    | {
        /** A link of a session failed; the session goes on over the others (if none is left, `partner-down` follows). */
        type: 'link-down';
        /** The partner's node id. */
        partner: number;
        /** The link's index. */
        link: number;
        /** This node's address of the link. */
        localAddress: string;
        /** The partner's address of the link. */
        remoteAddress: string;
        /** Why: its heartbeat stopped, a work request on it failed, the CM disconnected it, or a new connection replaced it. */
        reason: string;
        /** How long the link had been silent when it was declared down (ms; 0 when it failed at once). */
        detectionMs: number;
        /** Links of the session still up. */
        linksUp: number;
      }
    | {
        /** A session was established with a new boot of the partner (another generation than the last session's). */
        type: 'partner-rebooted';
        /** The partner's node id. */
        partner: number;
        /** The generation of the previous session. */
        oldGeneration: string;
        /** The generation of the new session. */
        newGeneration: string;
      }
    | {
        /** A session ended, for any reason (after `partner-down` when the partner failed). */
        type: 'session-closed';
        /** The partner's node id. */
        partner: number;
        /** Human-readable cause. */
        reason: string;
      }
    | {
        /** A listener of this node's events threw; nothing else changes. */
        type: 'listener-error';
        /** The `type` of the event whose listener threw. */
        event: string;
        /** The thrown error's message. */
        message: string;
      }
    | {
        /** `stop()` finished: sessions are closed and the exposed memory released. */
        type: 'stopped';
      }
  );

/** The `type` of a {@link CcmEvent}, also the event name to listen for on a {@link ClusterNode}. */
export type CcmEventType = CcmEvent['type'];

/** How far a partner replayed this node's mirrored log before it took over, as its status block said. */
export interface ReplayedLog {
  /** The log stream of this node's previous boot. */
  stream: number;
  /** The last sequence of that stream the partner replayed (decimal). */
  through: string;
}
