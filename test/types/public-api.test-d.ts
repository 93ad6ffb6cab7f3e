// The typings a user of the package gets (the built declarations in dist/, as published), checked by the
// compiler (`npm run typecheck`): events outside a class's map do not compile, listeners get their
// arguments' types, ClusterNode and DiskWitness work with `await using`, `@internal` members are not
// declared, and a class only the package makes has no public constructor. Each `@ts-expect-error` fails the check when the line below it compiles.
import { expectTypeOf } from 'vitest';
import type { ClusterNode, CcmEvent, DiskWitness, LogMirror } from '../../dist/ccm';
import type { Connection, DatagramEndpoint } from '../../dist/cm';
import type {
  AsyncEvent,
  CompletionQueue,
  Context,
  MemoryWindow,
  QueuePair,
  SharedReceiveQueue,
  WorkCompletion,
} from '../../dist/verbs';

declare const ctx: Context;
declare const cq: CompletionQueue;
declare const srq: SharedReceiveQueue;
declare const conn: Connection;
declare const ep: DatagramEndpoint;
declare const mirror: LogMirror;
declare const node: ClusterNode;

// Typed events: the listener's arguments come from the event map.
ctx.on('async-event', (e) => expectTypeOf(e).toEqualTypeOf<AsyncEvent>());
cq.on('completion', (batch) => expectTypeOf(batch).toEqualTypeOf<WorkCompletion[]>());
srq.once('limit-reached', (...args) => expectTypeOf(args).toEqualTypeOf<[]>());
conn.on('cm-event', (e) => expectTypeOf(e.status).toBeNumber());
ep.on('multicast-error', (e) => expectTypeOf(e.status).toBeNumber());
mirror.on('record', (sequence, payload) => {
  expectTypeOf(sequence).toEqualTypeOf<bigint>();
  expectTypeOf(payload).toEqualTypeOf<Buffer>();
});
node.on('event', (e) => expectTypeOf(e).toEqualTypeOf<CcmEvent>());
node.once('partner-down', (e) => expectTypeOf(e.detectionMs).toBeNumber());

// No catch-all: an event outside the map is a compile error, on every emitter and every method.
// @ts-expect-error no such event
ctx.on('typo-event', (x) => x.anything.goes);
// @ts-expect-error no such event
ctx.once('async-events', () => {});
// @ts-expect-error no such event
cq.on('completions', () => {});
// @ts-expect-error no such event
srq.on('limit', () => {});
// @ts-expect-error no such event
conn.on('disconnect', () => {});
// @ts-expect-error no such event
ep.on('removal', () => {});
// @ts-expect-error no such event
mirror.on('records', () => {});
// @ts-expect-error no such event
node.on('partner-gone', () => {});
// @ts-expect-error no such event
node.off('typo', () => {});
// @ts-expect-error a listener of the wrong type for its event
node.on('partner-down', (e: { type: 'established' }) => e);

// `await using`: stop() for a ClusterNode, close() for a DiskWitness.
expectTypeOf<ClusterNode[typeof Symbol.asyncDispose]>().toEqualTypeOf<() => Promise<void>>();
expectTypeOf<DiskWitness[typeof Symbol.asyncDispose]>().toEqualTypeOf<() => Promise<void>>();
export async function disposed(make: () => ClusterNode): Promise<void> {
  await using n = make();
  await n.start();
}

// `@internal` members are not in the published declarations.
expectTypeOf<Context>().not.toHaveProperty('native');
expectTypeOf<Context>().not.toHaveProperty('_qps');
expectTypeOf<Context>().not.toHaveProperty('_watch');
expectTypeOf<QueuePair>().not.toHaveProperty('_completeAt');
expectTypeOf<MemoryWindow>().not.toHaveProperty('region');
expectTypeOf<SharedReceiveQueue>().not.toHaveProperty('native');

// A class only the package makes keeps its constructor private in the typings (stripInternal alone
// would leave it an implicit public one taking no arguments).
declare const made: {
  srq: typeof SharedReceiveQueue;
  qp: typeof QueuePair;
  cq: typeof CompletionQueue;
  mw: typeof MemoryWindow;
  conn: typeof Connection;
  mirror: typeof LogMirror;
};
// @ts-expect-error private constructor
new made.srq();
// @ts-expect-error private constructor
new made.qp();
// @ts-expect-error private constructor
new made.cq();
// @ts-expect-error private constructor
new made.mw();
// @ts-expect-error private constructor
new made.conn();
// @ts-expect-error private constructor
new made.mirror();
