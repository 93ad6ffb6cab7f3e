// This node's status block: kept as an object, published into the exposed memory in one copy so a
// partner's READ sees either the old or the new block (a torn read fails its checksum and is retried).
import { Echo, encodeStatus, StatusBlock } from './wire/status-block';
import { NodeState, STATUS } from './wire/layout';

export class StatusPublisher {
  private readonly block: StatusBlock;
  private readonly scratch = new Uint8Array(STATUS.size);

  constructor(
    private readonly memory: Uint8Array,
    init: Omit<StatusBlock, 'heartbeat' | 'sequence' | 'echoes'>,
    private readonly secret?: Uint8Array,
  ) {
    this.block = { ...init, heartbeat: 0n, sequence: 0n, echoes: new Array(init.slotCount).fill(null) };
    this.publish();
  }

  get state(): NodeState {
    return this.block.state;
  }

  setState(state: NodeState): void {
    this.block.state = state;
    this.publish();
  }

  /** This node's log regions are persistent memory (its status block says so). */
  get persistent(): boolean {
    return this.block.persistent === true;
  }

  /** The takeover this node holds (null: none), as partners READ it. */
  get takeover(): NonNullable<StatusBlock['takeover']> | null {
    return this.block.takeover ?? null;
  }

  setTakeover(takeover: StatusBlock['takeover']): void {
    this.block.takeover = takeover;
    this.publish();
  }

  setEcho(slot: number, echo: Echo | null): void {
    this.block.echoes[slot] = echo;
    this.publish();
  }

  /** Advances the heartbeat in the block (every heartbeat period while the node runs). */
  beat(): void {
    this.block.heartbeat++;
    this.publish();
  }

  private publish(): void {
    this.block.sequence++;
    encodeStatus(this.block, this.secret, this.scratch);
    this.memory.set(this.scratch);
  }
}
