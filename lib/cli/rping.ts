// `rdma-ccm rping`: client and server of rdma-core's rping protocol, interoperable with `rping`.
//   client sends its source buffer (addr/rkey/size, 16 bytes big-endian) → server RDMA READs it,
//   answers "go ahead" → client sends its sink buffer → server RDMA WRITEs the data back, answers
//   "go ahead" → repeat. -V validates that the sink holds what the source held.
import { UsageError } from './usage-error';

const USAGE = `usage: rdma-ccm rping -s [-vV] [-S size] [-C count] [-a addr] [-p port]
       rdma-ccm rping -c [-vV] [-S size] [-C count] [-I addr] -a addr [-p port]
`;
const MIN_SIZE = 26; // room for "rdma-ping-2147483647: " and the NUL, as rping requires
const MAX_SIZE = 64 * 1024 - 1;

/** What the command line asks of `rdma-ccm rping`. */
export interface Options {
  server: boolean;
  address: string;
  source?: string;
  port: number;
  count: number;
  size: number;
  verbose: boolean;
  validate: boolean;
}

/** -h or --help: the usage on stdout, exit 0. */
class HelpWanted extends Error {}

function parse(args: string[]): Options {
  const o: Partial<Options> = { port: 7174, count: 0, size: 64, verbose: false, validate: false };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const val = () => {
      const v = args[++i];
      if (v === undefined) throw new UsageError(`${a} needs a value`);
      return v;
    };
    const int = (v: string) => {
      if (!/^\d+$/.test(v)) throw new UsageError(`${a} needs a number, got ${v}`);
      return Number(v);
    };
    if (a === '-h' || a === '--help') throw new HelpWanted();
    if (a === '-s') o.server = true;
    else if (a === '-c') o.server = false;
    else if (a === '-a') o.address = val();
    else if (a === '-I') o.source = val();
    else if (a === '-p') o.port = int(val());
    else if (a === '-C') o.count = int(val());
    else if (a === '-S') o.size = int(val());
    else if (/^-[vV]+$/.test(a)) {
      if (a.includes('v')) o.verbose = true;
      if (a.includes('V')) o.validate = true;
    } else throw new UsageError(`unknown option ${a}`);
  }
  if (o.server === undefined) throw new UsageError('choose -s (server) or -c (client)');
  if (!o.server && !o.address) throw new UsageError('the client needs -a address');
  if (o.size! < MIN_SIZE || o.size! > MAX_SIZE)
    throw new UsageError(`size ${o.size} out of range (${MIN_SIZE} to ${MAX_SIZE})`);
  if (o.port! < 1 || o.port! > 65535) throw new UsageError('port out of range');
  o.address ??= '0.0.0.0';
  return o as Options;
}

export async function rpingCommand(args: string[]): Promise<number> {
  let o: Options;
  try {
    o = parse(args);
  } catch (e) {
    if (e instanceof HelpWanted) {
      process.stdout.write(USAGE);
      return 0;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`rdma-ccm rping: ${e.message}\n${USAGE}`);
      return 2;
    }
    throw e;
  }
  // The addon loads once the arguments are known good: --help works without rdma-core's libraries.
  const missing = (await import('./no-rdma')).missingRdma();
  if (missing) {
    process.stderr.write(`rdma-ccm rping: ${missing}\n`);
    return 1;
  }
  const { rpingClient, rpingServer } = await import('./rping-run');
  return o.server ? rpingServer(o) : rpingClient(o);
}
