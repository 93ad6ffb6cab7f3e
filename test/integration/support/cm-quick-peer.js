// A partner that disconnects at once, in its own process: it connects COUNT times and closes each
// connection the moment connect() resolves, so the accepting side sees ESTABLISHED and DISCONNECTED
// close together (in one batch when its event loop is busy). Prints {"closed": ms that close() took}
// per connection, then {"done": true}.
//   node cm-quick-peer.js ADDR PORT SOURCE_ADDR COUNT
const { resolve } = require('node:path');
const { connect, contextFor } = require(resolve(__dirname, '..', '..', '..', 'dist', 'cm', 'index.js'));

const out = (x) => process.stdout.write(`${JSON.stringify(x)}\n`);
const [address, port, source, count] = process.argv.slice(2);

async function main() {
  const pd = (await contextFor(source)).allocPd();
  for (let i = 0; i < Number(count); i++) {
    // The partner may still be busy with the previous one: try again until it answers.
    for (let attempt = 0; ; attempt++) {
      try {
        const conn = await connect({
          address,
          port: Number(port),
          sourceAddress: source,
          pd,
          timeoutMs: 20_000,
        });
        const t0 = performance.now();
        conn.close();
        out({ closed: Math.round(performance.now() - t0) });
        break;
      } catch (e) {
        if (attempt === 20) throw e;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }
  pd.close();
  out({ done: true });
}

main().catch((e) => {
  out({ error: `${e.code}: ${e.message}` });
  process.exitCode = 1;
});
