// One link of a session: a connection between this node's k-th address and the partner's k-th, with the
// partner's memory as reachable over it (the same addresses on every link, the link's own rkeys), and
// what this node has seen of the partner's heartbeat word for this link.
import type { Link } from './transport';
import type { RegionCoords } from './wire/mailbox';

/** One link of a {@link Session} (see `session.upLinks`): an address pair and its connection. */
export class SessionLink {
  /** The partner's heartbeat word value for this link when it last moved. */
  lastValue = 0n;
  /** When the partner last showed life over this link (performance.now()). */
  lastSeenAt = performance.now();
  /** Doorbells that arrived over this link: signs of life as good as its heartbeat. */
  activity = 0;
  /** `activity` at the last mailbox scan. */
  lastActivity = 0;
  /** This node's heartbeat count written over this link. */
  beats = 0n;
  /** False once the link failed or the session ended. */
  up = true;
  /** When the link joined the session (ms since the epoch). */
  readonly upSince = Date.now();

  /** @internal Made by the session's partner loop when a link connects. */
  constructor(
    /** The link's index: this node's and the partner's address of that rank. */
    readonly index: number,
    /** The connection. */
    readonly link: Link,
    /** This node's address of the link. */
    readonly localAddress: string,
    /** The partner's address of the link. */
    readonly remoteAddress: string,
    /** The partner's status block and our slot there, over this link. */
    readonly regions: RegionCoords,
  ) {}
}
