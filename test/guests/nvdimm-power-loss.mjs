// The NVRAM's promise, with a real power loss: guest A keeps its partner's mirrored log in its emulated
// NVDIMM (device DAX, backed by a host file); guest B appends `persisted` records to it as fast as the
// session takes them. Right after at least 1000 of them resolved, A's guest is killed hard (qemu gets
// SIGKILL: no shutdown, no flush, as a power loss), B is stopped, and A boots again with the same NVDIMM.
// `rdma-ccm node --dump-log 2` there must find every record B was told was persisted: in order, once,
// marked acknowledged, each with the bytes written under it. Exits 0 when it does. On the trixie stack
// (kernel 6.12, rdma-core 56) the device-DAX slot takes RDMA FLUSH, and B's fences must be FLUSHes.
//   node test/guests/nvdimm-power-loss.mjs [--stack trixie]
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..', '..');
const { guestLinks, startGuest } = await import(join(root, 'dist', 'lab', 'index.js'));

const stack = process.argv[2] === '--stack' ? process.argv[3] : undefined;
const CLUSTER = 5151;
const PORT = 7620;
const RECORDS = 1000;
const lab = join(root, '.lab');
mkdirSync(lab, { recursive: true });
const nvdimm = { path: join(lab, `nvdimm-power-loss-a${stack ? `-${stack}` : ''}.img`), sizeMiB: 64 };
const dump = join(lab, `nvdimm-power-loss-dump${stack ? `-${stack}` : ''}.jsonl`);
rmSync(nvdimm.path, { force: true });
rmSync(dump, { force: true });
const [A, B] = [guestLinks('a')[0].ip, guestLinks('b')[0].ip];
const say = (s) => process.stdout.write(`nvdimm: ${s}\n`);
const fail = (s) => {
  say(`FAILED: ${s}`);
  process.exit(1);
};

// Node 1 (guest A) holds node 2's log in its NVDIMM; the device is persistent memory, so its status block
// says so and B's persisted session is accepted.
const owner = (extra) =>
  `exec node dist/cli.js node --cluster-id ${CLUSTER} --node-id 1 --address ${A} --port ${PORT + 100} --partner 2@${B}:${PORT} --heartbeat-ms 100 --partner-down-ms 3000 --nvram "$RDMA_CCM_LAB_NVDIMM" --no-control ${extra}`;
// A guest's lines other than the writer's counts are shown: a failure says why.
const shown = (name) => (l) =>
  l.trim() && !l.startsWith('{"type":') && process.stdout.write(`[${name}] ${l}\n`);
const a = startGuest('a', owner('--json'), { cwd: root, stack, nvdimm, timeoutSec: 900, onLine: shown('a') });
let ended = null;
a.done.then((r) => (ended ??= `guest A ended first (${JSON.stringify(r)})`));
let acked = 0n;
let established = false;
let fence = null;
let fences = null;
const b = startGuest(
  'b',
  `exec node test/integration/support/log-writer.js ${B} ${A} ${PORT} ${CLUSTER} persisted 512 1000000000`,
  {
    cwd: root,
    stack,
    timeoutSec: 900,
    onLine: (l) => {
      const m = /^\{.*\}$/.exec(l.trim());
      if (!m) return shown('b')(l);
      const x = JSON.parse(m[0]);
      if (x.established) established = true;
      if (x.fence) fence = x.fence;
      if (x.fences) fences = x.fences;
      if (x.acked !== undefined && BigInt(x.acked) > acked) acked = BigInt(x.acked);
    },
  },
);
b.done.then((r) => (ended ??= `guest B ended first (${JSON.stringify(r)})`));
say('guest A (NVDIMM, device DAX) and guest B (writer, persisted) booting');
const deadline = Date.now() + 600_000;
while (acked < BigInt(RECORDS)) {
  if (ended) fail(ended);
  if (Date.now() > deadline)
    fail(`only ${acked} persisted records resolved in 600 s${established ? '' : ' (no session)'}`);
  await new Promise((r) => setTimeout(r, 50));
}
// There, device DAX is pmem to rxe: the slot takes FLUSH to persistence, and every persisted sync used it.
if (stack === 'trixie' && (fence !== 'flush' || !(fences?.flushPersistent > 0) || fences.read !== 0))
  fail(`the writer fenced with ${fence} (${JSON.stringify(fences)}), not with RDMA FLUSHes to persistence`);
ended = 'killed';
a.kill();
const killedAt = acked;
await a.done;
// B may still learn of fences that A's NIC served before the kill: its count settles once its link fails.
await new Promise((r) => setTimeout(r, 3000));
say(
  `guest A killed hard after ${killedAt} persisted records resolved (${acked} resolved in all; fences: ${JSON.stringify(fences)})`,
);
b.kill();
await b.done;

const again = startGuest('a', `${owner('--dump-log 2')} > ${dump}`, {
  cwd: root,
  stack,
  nvdimm,
  timeoutSec: 600,
  onLine: shown('a'),
});
const r = await again.done;
if (r.bootFailure) fail(`guest A did not boot again: ${r.bootFailure}`);
if (r.code !== 0) fail(`--dump-log exited ${r.code}`);
const lines = readFileSync(dump, 'utf8')
  .trim()
  .split('\n')
  .map((l) => JSON.parse(l));
const end = lines.pop();
if (end?.type !== 'log-end' || end.error !== null)
  fail(`the dump did not end cleanly: ${JSON.stringify(end)}`);
if (lines.length < Number(acked)) fail(`${lines.length} records found, ${acked} were persisted`);
lines.forEach((x, i) => {
  const text = Buffer.from(x.payload, 'base64').toString('latin1', 0, 20).replace(/\.+$/, '');
  if (
    x.type !== 'log-record' ||
    x.sequence !== String(i + 1) ||
    x.durability !== 'persisted' ||
    x.bytes !== 512 ||
    text !== `record ${i}`
  )
    fail(`record ${i + 1} is not the one written: ${JSON.stringify({ ...x, payload: text })}`);
  if (BigInt(x.sequence) <= acked && !x.acknowledged)
    fail(`record ${x.sequence} was persisted but is not marked acknowledged`);
});
rmSync(nvdimm.path, { force: true });
say(
  `booted again: ${lines.length} records found in the NVDIMM, every one of the ${acked} persisted records once, in order (${end.acknowledged} acknowledged)`,
);
