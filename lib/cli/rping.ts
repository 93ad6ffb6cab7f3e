// `rdma-ccm rping`: client and server of rdma-core's rping protocol, interoperable with `rping`.
//   client sends its source buffer (addr/rkey/size, 16 bytes big-endian) → server RDMA READs it,
//   answers "go ahead" → client sends its sink buffer → server RDMA WRITEs the data back, answers
//   "go ahead" → repeat. -V validates that the sink holds what the source held.
import { defineCommand, runCommand, type CommandLine } from './command-line';
import { UsageError } from './usage-error';

const USAGE = `usage: rdma-ccm rping -s [-vV] [-S size] [-C count] [-a addr] [-p port]
       rdma-ccm rping -c [-vV] [-S size] [-C count] [-I addr] -a addr [-p port]
  -s, --server / -c, --client   serve, or connect to a server at -a
  -a, --address A   the server's address (default for a server: every address)
  -I, --source A    the client's own address
  -p, --port P      the server's port (default 7174)
  -C, --count N     ping this many times (default 0: until stopped)
  -S, --size N      the buffer's size in bytes (default 64; at least 26)
  -v, --verbose     print each ping's data
  -V, --validate    check that each echo holds what was sent
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

const RPING = defineCommand({
  name: 'rdma-ccm rping',
  usage: USAGE,
  flags: {
    server: { type: 'boolean', short: 's' },
    client: { type: 'boolean', short: 'c' },
    address: { type: 'string', short: 'a' },
    source: { type: 'string', short: 'I' },
    port: { type: 'integer', short: 'p', max: 65535 },
    count: { type: 'integer', short: 'C' },
    size: { type: 'integer', short: 'S' },
    verbose: { type: 'boolean', short: 'v' },
    validate: { type: 'boolean', short: 'V' },
  },
});

function options({ values: v }: CommandLine<(typeof RPING)['flags']>): Options {
  if (v.server === v.client) throw new UsageError('choose -s (server) or -c (client)');
  if (v.client && !v.address) throw new UsageError('the client needs -a address');
  const size = v.size ?? 64;
  if (size < MIN_SIZE || size > MAX_SIZE)
    throw new UsageError(`size ${size} out of range (${MIN_SIZE} to ${MAX_SIZE})`);
  if (v.port === 0) throw new UsageError('port out of range');
  return {
    server: v.server === true,
    address: v.address ?? '0.0.0.0',
    source: v.source,
    port: v.port ?? 7174,
    count: v.count ?? 0,
    size,
    verbose: v.verbose === true,
    validate: v.validate === true,
  };
}

export function rpingCommand(args: string[]): Promise<number> {
  return runCommand(RPING, args, async (line) => {
    const o = options(line);
    // The addon loads once the arguments are known good: --help works without rdma-core's libraries.
    const missing = (await import('./no-rdma')).missingRdma();
    if (missing) {
      process.stderr.write(`rdma-ccm rping: ${missing}\n`);
      return 1;
    }
    const { rpingClient, rpingServer } = await import('./rping-run');
    return o.server ? rpingServer(o) : rpingClient(o);
  });
}
