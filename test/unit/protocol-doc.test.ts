// docs/protocol.md against the code: every offset, size, magic, enumeration and doorbell kind the
// document states is read from lib/ccm/wire's layouts, so a change on either side that the other does
// not follow fails here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ACCEPT_PD,
  COMMIT,
  CONNECT_PD,
  DOORBELL,
  HELLO,
  JOIN_ACCEPT_PD,
  JOIN_PD,
  MAGIC,
  MAX_LINKS,
  MAX_SLOTS,
  NODE_STATES,
  PRIVATE_DATA,
  PROTOCOL_VERSION,
  REJECT_PD,
  REJECT_REASONS,
  SLOT,
  STATUS,
  STATUS_PERSISTENT,
  STATUS_NEEDS_PERSISTENT,
  STATUS_FLUSH,
  STATUS_FLUSH_PERSISTENT,
  WITNESS,
  LOG_TAIL,
  DURABILITY,
  NVRAM,
  NVRAM_PERSISTENT,
} from '../../lib/ccm/wire/layout';
import { LOG_HEADER } from '../../lib/ccm/wire/log-record';

const doc = readFileSync(join(__dirname, '../../docs/protocol.md'), 'utf8');

/** The text of the section whose heading starts with `title`, up to the next heading. */
function section(title: string): string {
  const at = doc.indexOf(`### ${title}`);
  expect(at, `docs/protocol.md has no section "${title}"`).toBeGreaterThanOrEqual(0);
  const end = doc.indexOf('\n#', at + 4);
  return doc.slice(at, end < 0 ? undefined : end);
}

/** The four ASCII characters of a magic as it lies in memory (little-endian). */
const ascii = (magic: number) =>
  String.fromCharCode(magic & 0xff, (magic >>> 8) & 0xff, (magic >>> 16) & 0xff, magic >>> 24);

function heading(title: string, magic: number, size?: number): string {
  return `### ${title} (magic \`${ascii(magic)}\` = 0x${magic.toString(16)}${size === undefined ? '' : `, ${size} bytes`})`;
}

/** `offset` phrase, as the inline layouts write fields. */
const field = (offset: number, phrase: string) => `\`${offset}\` ${phrase}`;

/** Every field of an inline layout is in the text, at its offset (line breaks read as spaces). */
function expectFields(text: string, fields: readonly (readonly [number, string])[]): void {
  const flat = text.replace(/\s+/g, ' ');
  for (const [offset, phrase] of fields) expect(flat).toContain(field(offset, phrase));
}

describe('docs/protocol.md matches lib/ccm/wire', () => {
  it('names the protocol version the code speaks', () => {
    expect(doc).toContain(`# The CCM protocol (version ${PROTOCOL_VERSION})`);
    expect(doc).toContain(`The version field is ${PROTOCOL_VERSION}.`);
  });

  it('status block: magic, size, every field offset, the states and the echo stride', () => {
    const s = section('Status block');
    expect(s).toContain(heading('Status block', MAGIC.status, STATUS.size));
    expect(s).toContain(
      `| ${STATUS.magic} | magic, version (${PROTOCOL_VERSION}), length (${STATUS.size}) |`,
    );
    for (const [offset, phrase] of [
      [STATUS.clusterId, 'cluster id u64'],
      [STATUS.nodeId, 'node id u32'],
      [STATUS.state, `state u32: ${NODE_STATES.map((n, i) => `${i + 1} ${n}`).join(', ')}`],
      [STATUS.generation, 'boot generation u64'],
      [STATUS.heartbeat, 'heartbeat u64'],
      [STATUS.sequence, 'sequence u64'],
      [STATUS.slotCount, `slot count u16 (1 … ${MAX_SLOTS})`],
      [
        STATUS.flags,
        `flags u16 (1 auth, ${STATUS_PERSISTENT} persistent: the node's log regions are persistent memory, ${STATUS_NEEDS_PERSISTENT} needs persistent: it appends persisted records, ${STATUS_FLUSH} flush: its slots take RDMA FLUSH to global visibility on every link, ${STATUS_FLUSH_PERSISTENT} flush persistent: to persistence too)`,
      ],
      [STATUS.takeover, 'takeover u32'],
      [STATUS.takeoverGeneration, 'takeover generation u64'],
      [STATUS.replayedStream, 'takeover replayed stream u32'],
      [STATUS.replayedThrough, 'takeover replayed through u64'],
      [STATUS.mac, `MAC[${STATUS.checksum - STATUS.mac}] over bytes 0 … ${STATUS.mac - 1}`],
      [STATUS.checksum, 'CRC-32C u32'],
    ] as const)
      expect(s).toContain(`| ${offset} | ${phrase}`);
    expect(s).toContain(`| ${STATUS.echoes} + ${STATUS.echoSize}·i | echo of slot i:`);
    expect(STATUS.echoes + MAX_SLOTS * STATUS.echoSize).toBeLessThanOrEqual(STATUS.mac);
    expect(STATUS.checksum + 4).toBe(STATUS.size);
  });

  it('mailbox slot: where the partner writes hello, commit, heartbeat, ack and the ring', () => {
    const s = section('Slot');
    expect(s).toContain(`(${SLOT.size} bytes of control words, then the log ring)`);
    expect(s).toContain(`| ${SLOT.hello} | ${HELLO.size} | hello |`);
    expect(s).toContain(`| ${SLOT.commit} | ${COMMIT.size} | commit |`);
    expect(s).toContain(`| ${SLOT.heartbeat} | ${SLOT.heartbeatSize} | heartbeat:`);
    expect(s).toContain(`| ${SLOT.ack} | ${SLOT.ackSize} | ack:`);
    expect(s).toContain(`| ${SLOT.links} + ${SLOT.linkSize}·k | ${SLOT.linkSize} | heartbeat of link k`);
    expect(s).toContain(`(k < ${MAX_LINKS})`);
    expect(SLOT.links + MAX_LINKS * SLOT.linkSize).toBeLessThanOrEqual(SLOT.size);
    expect(s).toContain(`| ${SLOT.tail} | ${LOG_TAIL.size} | log tail`);
    expect(SLOT.tail + LOG_TAIL.size).toBeLessThanOrEqual(SLOT.size);
    expect(SLOT.links + MAX_LINKS * SLOT.linkSize).toBeLessThanOrEqual(SLOT.tail);
    expect(s).toContain(`| ${SLOT.size} | ring | log records |`);
  });

  it('hello and commit: magic, size and every field offset', () => {
    const h = section('Hello');
    expect(h).toContain(heading('Hello', MAGIC.hello, HELLO.size));
    expectFields(h, [
      [HELLO.magic, 'header'],
      [HELLO.clusterId, 'cluster id u64'],
      [HELLO.nodeId, 'node id u32'],
      [HELLO.flags, 'flags u32'],
      [HELLO.generation, 'generation u64'],
      [HELLO.nonce, 'nonce u64'],
      [HELLO.responderNonce, 'responder nonce u64'],
      [HELLO.statusAddr, 'status addr u64'],
      [HELLO.statusRkey, 'status rkey u32'],
      [HELLO.statusLen, 'status length u32'],
      [HELLO.slotAddr, "slot addr u64 (the receiver's slot"],
      [HELLO.slotRkey, 'slot rkey u32'],
      [HELLO.slotLen, 'slot length u32'],
      [HELLO.mac, `MAC[${HELLO.macSize}]`],
      [HELLO.checksum, 'CRC-32C'],
    ]);
    const c = section('Commit');
    expect(c).toContain(heading('Commit', MAGIC.commit, COMMIT.size));
    expectFields(c, [
      [COMMIT.magic, 'header'],
      [COMMIT.clusterId, 'cluster id'],
      [COMMIT.nodeId, 'node id u32'],
      [COMMIT.flags, 'flags u32'],
      [COMMIT.generation, 'generation u64'],
      [COMMIT.nonce, 'nonce u64'],
      [COMMIT.responderNonce, 'responder nonce u64'],
      [COMMIT.mac, `MAC[${HELLO.macSize}]`],
      [COMMIT.checksum, 'CRC-32C'],
    ]);
  });

  it('CM private data: sizes within the CM limits, every field offset, the reject reasons', () => {
    const s = section('CM private data');
    expect(s).toContain(heading('CM private data', MAGIC.privateData));
    const row = (kind: string) => s.split('\n').find((l) => l.startsWith(`| ${kind} |`)) ?? '';
    const rows: [string, number, number, [number, string][]][] = [
      [
        'connect',
        CONNECT_PD.size,
        PRIVATE_DATA.maxConnect,
        [
          [CONNECT_PD.clusterId, 'cluster id'],
          [CONNECT_PD.nodeId, 'node id'],
          [CONNECT_PD.target, 'target node id'],
          [CONNECT_PD.generation, 'generation'],
          [CONNECT_PD.attempt, 'attempt u32'],
          [CONNECT_PD.mac, `MAC[${CONNECT_PD.macSize}]`],
          [CONNECT_PD.checksum, 'CRC'],
        ],
      ],
      [
        'accept',
        ACCEPT_PD.size,
        PRIVATE_DATA.maxAccept,
        [
          [ACCEPT_PD.clusterId, 'cluster id'],
          [ACCEPT_PD.nodeId, 'node id'],
          [ACCEPT_PD.flags, 'flags'],
          [ACCEPT_PD.generation, 'generation'],
          [ACCEPT_PD.responderNonce, 'responder nonce'],
          [ACCEPT_PD.statusAddr, 'status addr'],
          [ACCEPT_PD.statusRkey, 'status rkey'],
          [ACCEPT_PD.statusLen, 'status length'],
          [ACCEPT_PD.slotAddr, 'slot addr'],
          [ACCEPT_PD.slotRkey, 'slot rkey'],
          [ACCEPT_PD.slotLen, 'slot length'],
          [ACCEPT_PD.mac, `MAC[${ACCEPT_PD.checksum - ACCEPT_PD.mac}] (over bytes 0 … ${ACCEPT_PD.mac - 1}`],
          [ACCEPT_PD.checksum, 'CRC'],
        ],
      ],
      [
        'join',
        JOIN_PD.size,
        PRIVATE_DATA.maxConnect,
        [
          [JOIN_PD.clusterId, 'cluster id'],
          [JOIN_PD.nodeId, 'node id'],
          [JOIN_PD.link, 'link u16'],
          [JOIN_PD.reserved, 'reserved u16'],
          [JOIN_PD.attempt, 'attempt u32'],
          [JOIN_PD.statusRkey, 'status rkey'],
          [JOIN_PD.slotRkey, 'slot rkey'],
          [JOIN_PD.mac, `MAC[${JOIN_PD.macSize}]`],
          [JOIN_PD.checksum, 'CRC'],
        ],
      ],
      [
        'join-accept',
        JOIN_ACCEPT_PD.size,
        PRIVATE_DATA.maxAccept,
        [
          [JOIN_ACCEPT_PD.clusterId, 'cluster id'],
          [JOIN_ACCEPT_PD.nodeId, 'node id'],
          [JOIN_ACCEPT_PD.link, 'link u16'],
          [JOIN_ACCEPT_PD.reserved, 'reserved u16'],
          [JOIN_ACCEPT_PD.statusRkey, 'status rkey'],
          [JOIN_ACCEPT_PD.slotRkey, 'slot rkey'],
          [JOIN_ACCEPT_PD.mac, `MAC[${JOIN_ACCEPT_PD.macSize}]`],
          [JOIN_ACCEPT_PD.checksum, 'CRC'],
        ],
      ],
      [
        'reject',
        REJECT_PD.size,
        PRIVATE_DATA.maxReject,
        [
          [REJECT_PD.clusterId, "cluster id (the caller's own, echoed)"],
          [REJECT_PD.reason, 'reason'],
          [REJECT_PD.checksum, 'CRC'],
        ],
      ],
    ];
    for (const [kind, size, limit, fields] of rows) {
      expect(size).toBeLessThanOrEqual(limit);
      expect(row(kind)).toContain(`| ${size} (${limit}) |`);
      expectFields(row(kind), fields);
    }
    expect(s.replace(/\s+/g, ' ')).toContain(
      `Reject reasons: ${REJECT_REASONS.map((r, i) => `${i + 1} ${r}`).join(', ')}.`,
    );
  });

  it('witness sector: magic, size, slot size and every field offset', () => {
    const s = section('Witness sector');
    expect(s).toContain(heading('Witness sector', MAGIC.witness, WITNESS.size));
    expect(s).toContain(`one ${WITNESS.slotSize}-byte slot per node`);
    expectFields(s, [
      [WITNESS.magic, 'header'],
      [WITNESS.clusterId, 'cluster id u64'],
      [WITNESS.nodeId, 'node id u32'],
      [WITNESS.state, 'state u32'],
      [WITNESS.generation, 'generation u64'],
      [WITNESS.heartbeat, 'heartbeat u64'],
      [WITNESS.takeover, 'takeover u32'],
      [WITNESS.flags, 'flags u32 (1 auth)'],
      [WITNESS.takeoverGeneration, 'takeover generation u64'],
      [WITNESS.msgwait, 'msgwait u32 (ms; 0 none)'],
      [WITNESS.mac, `MAC[${WITNESS.checksum - WITNESS.mac}] over bytes 0 … ${WITNESS.mac - 1}`],
      [WITNESS.checksum, 'CRC-32C'],
    ]);
  });

  it('NVRAM region header: magic, size, ring offset and every field offset', () => {
    const s = section('NVRAM region header').replace(/\s+/g, ' ');
    expect(s).toContain(heading('NVRAM region header', MAGIC.nvram, NVRAM.size));
    expect(s).toContain(`the ring follows at offset ${NVRAM.ringOffset}`);
    expect(NVRAM.slot + SLOT.size).toBe(NVRAM.ringOffset);
    expect(s).toContain(
      `slot's ${SLOT.size} bytes of control words at ${NVRAM.slot} … ${NVRAM.ringOffset - 1}`,
    );
    expectFields(s, [
      [NVRAM.magic, 'header'],
      [NVRAM.clusterId, 'cluster id u64'],
      [NVRAM.owner, 'owner u32'],
      [NVRAM.partner, 'partner u32'],
      [NVRAM.generation, 'partner generation u64'],
      [NVRAM.ringSize, 'ring size u64'],
      [NVRAM.flags, `flags u32 (1 auth, ${NVRAM_PERSISTENT} persistent)`],
      [NVRAM.mac, `MAC[${NVRAM.checksum - NVRAM.mac}] over bytes 0 … ${NVRAM.mac - 1}`],
      [NVRAM.checksum, 'CRC-32C'],
    ]);
  });

  it('log records: magic, header size and every header field offset', () => {
    const s = section('Log record').replace(/\s+/g, ' ');
    expect(s).toContain(heading('Log record', MAGIC.log));
    expect(s).toContain(`A ${LOG_HEADER.size}-byte header`);
    expect(s).toContain(`\`0\` header (length ${LOG_HEADER.size})`);
    expectFields(s, [
      [LOG_HEADER.epoch, 'session epoch u64'],
      [LOG_HEADER.sequence, 'sequence u64'],
      [LOG_HEADER.payloadLen, 'payload length u32'],
      [LOG_HEADER.payloadCrc, 'payload CRC-32C'],
      [LOG_HEADER.stream, 'stream id u32'],
      [LOG_HEADER.durability, `durability u8 (${DURABILITY.map((d, i) => `${i + 1} ${d}`).join(', ')};`],
      [LOG_HEADER.prior, 'prior u64'],
      [LOG_HEADER.acknowledged, 'acknowledged u64'],
      [LOG_HEADER.reserved, 'reserved u32'],
      [LOG_HEADER.checksum, 'header CRC-32C'],
    ]);
  });

  it('log tail: size, place in the slot and every field offset', () => {
    const s = section('Log tail').replace(/\s+/g, ' ');
    expect(s).toContain(`### Log tail (${LOG_TAIL.size} bytes, at slot offset ${SLOT.tail})`);
    expectFields(s, [
      [LOG_TAIL.stream, 'stream id u32'],
      [LOG_TAIL.reserved, 'reserved u32'],
      [LOG_TAIL.released, 'released u64'],
      [LOG_TAIL.offset, 'offset u64'],
      [LOG_TAIL.acknowledged, 'acknowledged u64'],
      [LOG_TAIL.reserved2, 'reserved u32'],
      [LOG_TAIL.checksum, `CRC-32C over the ${LOG_TAIL.size} bytes`],
    ]);
  });

  it('doorbells: the kinds, where the kind sits in the immediate, and the immediates of records and acks', () => {
    const text = doc.replace(/\s+/g, ' ');
    expect(32 - DOORBELL.kindShift).toBe(4);
    expect(text).toContain('carry a kind in their top four bits and a value in the other 28');
    expect(DOORBELL.valueMask).toBe(2 ** 28 - 1);
    expect(text).toContain(
      `\`${DOORBELL.record}\` log record, \`${DOORBELL.ack}\` log ack (see Sessions), \`${DOORBELL.hello}\` hello, \`${DOORBELL.commit}\` commit, \`${DOORBELL.echo}\` echo`,
    );
    expect(text).toContain(`\`${DOORBELL.record} << ${DOORBELL.kindShift} | offset / 8\``);
    expect(text).toContain(
      `\`${DOORBELL.ack} << ${DOORBELL.kindShift} | sequence mod 2^${DOORBELL.kindShift}\``,
    );
  });
});
