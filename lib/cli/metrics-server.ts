// `rdma-ccm node --metrics [ADDR:]PORT`: the node's Prometheus metrics over HTTP at /metrics (on 127.0.0.1
// unless an address is given: the figures say a lot about the cluster).
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

/** `PORT`, `ADDR:PORT` or `[IPv6]:PORT` as host and port, or null when it is neither. */
export function parseListen(spec: string): { host: string; port: number } | null {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]+):)?(\d{1,5})$/.exec(spec);
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  return { host: m[1] ? m[1].replace(/^\[(.*)\]$/, '$1') : '127.0.0.1', port };
}

export async function serveMetrics(registry: Registry, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
      return;
    }
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (e: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  server.unref();
  return server;
}
