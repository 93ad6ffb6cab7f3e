// The partner side of bench/pingpong.mjs in its own process, as perftest's server side is:
// argv op size iters device address. Prints its endpoint as a JSON line, reads the initiator's, prints
// "ready", answers every message, prints "done".
import { createInterface } from 'node:readline';
import { endpoint, pingPong } from './pingpong.mjs';

const [op, size, iters, dev, addr] = process.argv.slice(2);
const ep = endpoint(dev, addr, Number(size));
process.stdout.write(`${JSON.stringify(ep.info)}\n`);
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const peer = JSON.parse((await lines.next()).value);
ep.connect(peer);
const run = pingPong(ep, peer, op, Number(size));
process.stdout.write('ready\n');
run(Number(iters), false);
ep.close();
process.stdout.write('done\n');
process.exit(0);
