// `npm run chaos -- --seed S --minutes M [--stack trixie]`: a randomized fault schedule on the two-guest
// lab, checked by the history checker. Guests a and b (node 1 and 2) are joined by two links, share the
// witness disk and have an emulated NVDIMM each; each runs the workload (scripts/chaos-node.mjs) under
// scripts/chaos-guest.mjs. The nemesis follows the seed's schedule (lib/lab/chaos/schedule.ts): kill -9
// of the CCM process, SIGSTOP shorter and longer than partner-down, one link cut, both cut, a link
// flapping, loss or delay on a link (netem), a guest powered off and booted again. Every append, delivery,
// replay, CCM event and fault goes to .lab/chaos/<seed>/history.jsonl, with each guest's clock mapped to
// the host's; the checker runs after every step and at the end. On a violation the run stops and prints
// the invariant, the records involved, the seed and the last faults; the guests' logs stay beside the
// history. Exits 1 on a violation or a workload that crashed, 2 when the lab could not run it.
//   node scripts/chaos.mjs --check FILE   checks a history already written and reports it the same way
//   (after a build: it reads dist/)
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setup } from './setup.mjs';
import { buildNative, buildTs } from './build.mjs';
import { log, root } from './lib.mjs';

const argv = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : dflt;
};
const say = (s) => process.stdout.write(`chaos: ${s}\n`);
// How far apart two clocks' lines may be placed: the guests' clocks are mapped through their serial
// consoles, and emulated guests on a shared host lag by a few hundred ms at times.
const SKEW_MS = 250;
// How late a detection may come beyond threshold + interval: on two shared cores an emulated guest's
// event loop (its heartbeat polls, its witness reads) lags by more than a second at times.
const DETECTION_SLACK_MS = 1500;
const CHECK = { skewMs: SKEW_MS, detectionSlackMs: DETECTION_SLACK_MS };

if (opt('check')) {
  const { checkHistoryFile } = await import('../dist/lab/chaos/index.js');
  const report = checkHistoryFile(opt('check'), CHECK);
  process.stdout.write(`${report.text}\n`);
  process.exit(report.violations.length ? 1 : 0);
}

setup();
buildNative();
buildTs();
const { startGuest, guestLinks, sharedDisk, prepareLab } = await import('../dist/lab/index.js');
const { makeSchedule, parseSeed, check, parseHistory, checkHistoryFile, INVARIANTS, FENCING_NODE } =
  await import('../dist/lab/chaos/index.js');

const seedText = opt('seed', String(Math.floor(Math.random() * 0xffffffff)));
const seed = parseSeed(seedText);
const minutes = Number(opt('minutes', '3'));
const stack = opt('stack');
const inject = opt('inject');
// The two-guest thresholds of an emulated guest (scripts/demo.mjs): a lagging event loop is no death.
const HEARTBEAT_MS = 100;
const PARTNER_DOWN_MS = 3000;
const WITNESS_INTERVAL_MS = 200;
// The witness says stopped within the threshold: a dead partner is detected within threshold + interval.
const WITNESS_TIMEOUT_MS = PARTNER_DOWN_MS - WITNESS_INTERVAL_MS;
const PORT = 7490;
const schedule = makeSchedule(seed, minutes, {
  partnerDownMs: PARTNER_DOWN_MS,
  noPowerOff: argv.includes('--no-power-off'),
});
const dir = join(root, '.lab', 'chaos', String(seed));
rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const historyPath = join(dir, 'history.jsonl');
const wallStart = Date.now();
say(
  `seed ${seed}, ${minutes} min, stack ${stack ?? 'default'}: ${schedule.length} steps, ${schedule.reduce((n, s) => n + s.faults.length, 0)} faults; writing ${dir}`,
);
prepareLab(log, 'vm');

const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const hostLines = [
  {
    kind: 'run',
    seed: String(seed),
    nodes: [1, 2],
    partnerDownMs: PARTNER_DOWN_MS,
    heartbeatMs: HEARTBEAT_MS,
    witness: true,
    clock: 'host',
    mono: now(),
    offset: 0,
  },
];
const hostFault = (phase, id, fault, target, extra = {}) =>
  hostLines.push({
    kind: 'fault',
    phase,
    id,
    fault,
    target,
    ...extra,
    clock: 'host',
    mono: now(),
    offset: 0,
  });
const faultsDone = [];

// Each guest boot's clock: the least (host time on arrival - guest time printed) over its clock lines.
const offsets = new Map();
const crashes = [];
const disk = sharedDisk(join(dir, 'witness.img'));
const fenceDir = join(dir, 'fence');
mkdirSync(fenceDir, { recursive: true });
const nodes = {
  1: { id: 1, name: 'a', boot: -1, events: [] },
  2: { id: 2, name: 'b', boot: -1, events: [] },
};

function onLine(n, key, line) {
  appendFileSync(join(dir, `guest-${n.name}.log`), `${line}\n`);
  const m = /^(chaos-clock|chaos-crash|ccm) (.*)$/.exec(line.trim());
  if (!m) return;
  if (m[1] === 'chaos-clock') {
    const off = now() - Number(m[2]);
    if (!(off >= offsets.get(key))) offsets.set(key, off);
  } else if (m[1] === 'chaos-crash') crashes.push(m[2]);
  else
    try {
      n.events.push({ at: now(), ...JSON.parse(m[2]) });
    } catch {
      // A ccm line cut short (the guest stopped while printing it): only whole events are kept.
    }
}

function boot(n) {
  n.boot++;
  const key = `${n.id}.${n.boot}`;
  n.ctl = join(dir, `ctl-${key}`);
  writeFileSync(n.ctl, '');
  const self = guestLinks(n.name).map((l) => l.ip);
  const peer = guestLinks(n.name === 'a' ? 'b' : 'a').map((l) => l.ip);
  const workload = [
    `--node-id ${n.id} --address ${self.join(',')} --port ${PORT} --partner ${3 - n.id}@${peer.join(',')}:${PORT}`,
    `--heartbeat-ms ${HEARTBEAT_MS} --partner-down-ms ${PARTNER_DOWN_MS} --witness /dev/vda`,
    `--witness-interval-ms ${WITNESS_INTERVAL_MS} --witness-timeout-ms ${WITNESS_TIMEOUT_MS}`,
    `--nvram "$RDMA_CCM_LAB_NVDIMM"${inject ? ` --inject ${inject}` : ''}`,
    n.id === FENCING_NODE ? `--fence-dir ${fenceDir}` : '',
  ].join(' ');
  n.guest = startGuest(
    n.name,
    `exec node scripts/chaos-guest.mjs --node-id ${n.id} --ctl ${n.ctl} --dir ${dir} --boot ${n.boot} -- ${workload}`,
    {
      cwd: root,
      stack,
      disk,
      nvdimm: { path: join(dir, `nvdimm-${n.name}.img`), sizeMiB: 64 },
      timeoutSec: minutes * 60 + 3600,
      onLine: (l) => onLine(n, key, l),
    },
  );
  n.key = key;
  const g = n.guest;
  g.done.then((r) => (g.result = r));
}

const ctl = (n, line) => appendFileSync(n.ctl, `${line}\n`);

// The fence device of node 1 (FENCING_NODE): its requests come in DIR/fence/requests-1, one `ID TARGET` a
// line. The host fails as many as a fence-fail fault says; a target whose guest is off is fenced already;
// any other target's guest kills its workload (`fence ID`) and says so in ID.killed. The answer goes to
// ID.done: `ok`, or why not.
const fenceFailures = new Map();
let fenceRead = 0;
async function answerFence(id, from, target) {
  const done = (text) => writeFileSync(join(fenceDir, `${id}.done`), text);
  const left = fenceFailures.get(from) ?? 0;
  if (left > 0) {
    fenceFailures.set(from, left - 1);
    return done('the fence device is unreachable (fence-fail)');
  }
  const n = nodes[target];
  if (n.off) {
    hostFault('start', `fence-${id}`, 'fenced', target, { detail: 'guest off' });
    hostFault('end', `fence-${id}`, 'fenced', target, { detail: 'guest off' });
    return done('ok');
  }
  ctl(n, `fence ${id}`);
  const killed = await until(() => existsSync(join(fenceDir, `${id}.killed`)), 20_000);
  done(killed ? 'ok' : `node ${target}'s guest did not confirm the kill in 20 s`);
}
function pollFences() {
  const file = join(fenceDir, `requests-${FENCING_NODE}`);
  if (!existsSync(file)) return;
  const text = readFileSync(file, 'utf8');
  const end = text.lastIndexOf('\n') + 1;
  for (const line of text.slice(fenceRead, end).split('\n').filter(Boolean)) {
    const [id, target] = line.split(' ');
    void answerFence(id, FENCING_NODE, Number(target));
  }
  fenceRead = Math.max(fenceRead, end);
}

/** Every history line so far: the host's, and each guest boot's files with that boot's offset. */
function assemble() {
  const lines = [...hostLines];
  for (const f of readdirSync(dir)) {
    const m = /^(\d+)\.(\d+)\..+\.jsonl$/.exec(f);
    if (!m) continue;
    const offset = offsets.get(`${m[1]}.${m[2]}`);
    if (offset === undefined) continue;
    for (const l of readFileSync(join(dir, f), 'utf8').split('\n')) {
      if (!l) continue;
      try {
        lines.push({ ...JSON.parse(l), offset });
      } catch {
        // The last line of a guest powered off while writing it.
      }
    }
  }
  writeFileSync(historyPath, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  return lines;
}

/** Waits until `test()` holds, polling; false after `ms`. */
async function until(test, ms) {
  for (const end = now() + ms; now() < end; await sleep(250)) if (test()) return true;
  return false;
}
const established = (n, since) => n.events.some((e) => e.type === 'established' && e.at > since);
const SESSION_ENDS = ['established', 'partner-down', 'interconnect-down', 'session-closed'];
const inSession = (n) => n.events.findLast((e) => SESSION_ENDS.includes(e.type))?.type === 'established';
const active = (n, since) => n.events.some((e) => e.type === 'state' && e.to === 'ACTIVE' && e.at > since);

let stopped = null;
function stop(why) {
  stopped ??= why;
  for (const n of Object.values(nodes)) n.guest?.kill();
}

async function injectFault(f, id) {
  const n = nodes[f.target];
  const record = (kind) =>
    faultsDone.push(
      `${kind} on node ${f.target}${f.link !== undefined ? ` link ${f.link}` : ''} (${f.durationMs} ms)`,
    );
  switch (f.action) {
    case 'kill':
      ctl(n, `kill ${id} ${f.durationMs}`);
      await sleep(f.durationMs + 1000);
      break;
    case 'nvram-corrupt':
      ctl(n, `corrupt ${id} ${f.durationMs} ${f.damage}`);
      await sleep(f.durationMs + 1000);
      break;
    case 'pause-short':
    case 'pause-long':
      ctl(n, `pause ${id} ${f.durationMs}`);
      await sleep(f.durationMs + 1000);
      break;
    case 'loss':
    case 'delay':
      ctl(n, `netem ${id} ${f.link} ${f.durationMs} ${f.netem}`);
      await sleep(f.durationMs + 1000);
      break;
    case 'link-cut':
    case 'links-cut': {
      const links = f.action === 'link-cut' ? [f.link] : [0, 1];
      for (const k of links) {
        hostFault('start', `${id}.${k}`, 'link-cut', f.target, { link: k });
        await n.guest.setLink(k, false);
      }
      await sleep(f.durationMs);
      for (const k of links) {
        await n.guest.setLink(k, true);
        hostFault('end', `${id}.${k}`, 'link-cut', f.target, { link: k });
      }
      break;
    }
    case 'link-flap':
      for (let i = 0, end = now() + f.durationMs; now() < end; i++) {
        hostFault('start', `${id}.${i}`, 'link-cut', f.target, { link: f.link, detail: 'flap' });
        await n.guest.setLink(f.link, false);
        await sleep(1500);
        await n.guest.setLink(f.link, true);
        hostFault('end', `${id}.${i}`, 'link-cut', f.target, { link: f.link, detail: 'flap' });
        await sleep(1500);
      }
      break;
    case 'witness-slow':
    case 'witness-hang': {
      // QEMU throttles the target's path to the shared disk: a few operations a second, or one byte a
      // second (a 4 KiB write then hangs until the limit is lifted).
      const limits = (bps, iops) => ({
        device: 'shared',
        bps,
        bps_rd: 0,
        bps_wr: 0,
        iops,
        iops_rd: 0,
        iops_wr: 0,
      });
      const detail = f.action === 'witness-slow' ? `${f.iops} iops` : 'hung';
      hostFault('start', id, f.fault, f.target, { detail });
      await n.guest.qmp(
        'block_set_io_throttle',
        f.action === 'witness-slow' ? limits(0, f.iops) : limits(1, 0),
      );
      await sleep(f.durationMs);
      await n.guest.qmp('block_set_io_throttle', limits(0, 0));
      hostFault('end', id, f.fault, f.target, { detail });
      break;
    }
    case 'fence-fail':
      hostFault('start', id, 'fence-fail', f.target, { detail: `${f.failures} failures` });
      fenceFailures.set(f.target, f.failures);
      await sleep(f.durationMs);
      fenceFailures.delete(f.target);
      hostFault('end', id, 'fence-fail', f.target, { detail: `${f.failures} failures` });
      break;
    case 'power-off': {
      hostFault('start', id, 'power-off', f.target);
      n.off = true;
      n.guest.kill();
      await n.guest.done;
      await sleep(f.durationMs);
      n.off = false;
      boot(n);
      const key = n.key;
      if (!(await until(() => offsets.has(key), 900_000)))
        throw new Error(`guest ${n.name} did not boot again`);
      hostFault('end', id, 'power-off', f.target);
      break;
    }
  }
  record(f.action);
}

// The checks after a step: the promises about records and ownership, on what is settled by then.
const SAFETY = INVARIANTS.filter((i) =>
  [
    'acknowledged-found',
    'no-phantom-or-duplicate',
    'rejected-absent',
    'single-owner',
    'partner-down-real',
    'link-fault-not-down',
  ].includes(i.name),
);
function checkSoFar() {
  const lines = assemble();
  const settled = now() - 2000;
  const entries = parseHistory(
    lines
      .filter((l) => l.mono + l.offset < settled)
      .map((l) => JSON.stringify(l))
      .join('\n'),
  );
  return check(entries, CHECK, SAFETY).violations;
}

// Interrupted: the guests go with the run (qemu would outlive it).
for (const signal of ['SIGINT', 'SIGTERM'])
  process.once(signal, () => {
    for (const n of Object.values(nodes)) n.guest?.kill();
    process.exit(130);
  });

let exit = 0;
try {
  for (const n of Object.values(nodes)) boot(n);
  setInterval(pollFences, 200).unref();
  say('guests a and b booting (two links each, the witness disk, an NVDIMM each)');
  const ready = await until(
    () =>
      Object.values(nodes).every((n) => established(n, 0) && active(n, 0)) ||
      Object.values(nodes).some((n) => n.guest.result),
    900_000,
  );
  if (!ready || Object.values(nodes).some((n) => !established(n, 0)))
    throw Object.assign(new Error('the nodes never formed a session with both ACTIVE'), { lab: true });
  say(`session up, both ACTIVE after ${((Date.now() - wallStart) / 1000).toFixed(0)} s; schedule starts`);
  const t0 = now();
  for (const [i, step] of schedule.entries()) {
    if (stopped) break;
    await sleep(Math.max(0, t0 + step.atMs - now()));
    say(
      `step ${i + 1}/${schedule.length} at ${((now() - t0) / 1000).toFixed(0)} s: ${step.faults.map((f) => `${f.action} node ${f.target}${f.link !== undefined ? ` link ${f.link}` : ''} ${f.durationMs} ms${f.netem ? ` (${f.netem})` : ''}${f.startMs ? ` +${f.startMs} ms` : ''}`).join(' with ')}`,
    );
    await Promise.all(
      step.faults.map(async (f, k) => {
        await sleep(f.startMs);
        await injectFault(f, `${i + 1}.${k + 1}`);
      }),
    );
    await sleep(step.quietMs);
    const violations = checkSoFar();
    if (violations.length) {
      stop(`${violations.length} violation(s) after step ${i + 1}`);
      break;
    }
  }
  if (!stopped) {
    // Healed: each node in session with the other again, then both stop and audit themselves.
    await until(() => Object.values(nodes).every(inSession), 120_000);
    for (const n of Object.values(nodes)) ctl(n, 'quit');
    const quit = await Promise.race([
      Promise.all(Object.values(nodes).map((n) => n.guest.done)),
      sleep(180_000),
    ]);
    if (!quit) stop('the guests did not stop in 180 s');
  }
} catch (e) {
  say(`FAILED: ${e.message}`);
  stop(e.message);
  exit = e.lab ? 2 : 1;
}
await Promise.all(Object.values(nodes).map((n) => n.guest?.done));
assemble();
// A run stopped early never healed nor audited itself: only the invariants checked along the way apply.
let report;
try {
  report = checkHistoryFile(historyPath, CHECK, stopped ? SAFETY : INVARIANTS);
} catch (e) {
  say(`the history cannot be checked: ${e.code}: ${e.message} (guest logs kept in ${dir})`);
  process.exit(1);
}
process.stdout.write(`${report.text}\n`);
if (crashes.length) say(`the workload crashed: ${crashes.join('; ')}`);
if (report.violations.length || crashes.length) exit ||= 1;
say(
  `seed ${seed}, ${minutes} min, stack ${stack ?? 'default'}: ${faultsDone.length} faults done, wall time ${((Date.now() - wallStart) / 1000).toFixed(0)} s${stopped ? `; stopped: ${stopped}` : ''}; ${exit ? `FAILED (guest logs kept in ${dir})` : 'no violation'}`,
);
process.exit(exit);
