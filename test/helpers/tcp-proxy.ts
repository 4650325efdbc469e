// A TCP proxy that can black-hole chosen connections (between stopline and Redis: bytes stop flowing both ways while
// the sockets stay open, no FIN, no RST, as with a dead NAT entry or a frozen peer), slow every reply down by a fixed
// delay (in order, as a Redis under load or across a congested link), and send its next connections elsewhere (in
// front of replicas, a load balancer whose next connection lands on another pod).
import { createServer, connect, type Socket } from 'node:net';
import { once } from 'node:events';

export interface Conn { readonly client: Socket; readonly server: Socket; sawSubscribe: boolean; frozen: boolean }

export async function startTcpProxy(targetPort: number): Promise<{ port: number; conns: Conn[]; freeze(pred: (c: Conn) => boolean): number; delay(ms: number): void; retarget(port: number): void; close(): Promise<void> }> {
  const conns: Conn[] = [];
  let delayMs = 0;
  let target = targetPort;
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    const c: Conn = { client, server: upstream, sawSubscribe: false, frozen: false };
    conns.push(c);
    client.on('data', (d: Buffer) => {
      if (/subscribe/i.test(d.toString('latin1'))) c.sawSubscribe = true;
      if (!c.frozen) upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (c.frozen) return;
      if (delayMs === 0) client.write(d);
      else setTimeout(() => { if (!client.destroyed) client.write(d); }, delayMs); // same delay: timers keep the order
    });
    const end = () => { client.destroy(); upstream.destroy(); };
    client.on('close', end);
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    conns,
    freeze(pred) {
      let n = 0;
      for (const c of conns) if (!c.client.destroyed && pred(c)) { c.frozen = true; n++; }
      return n;
    },
    delay(ms) { delayMs = ms; },
    retarget(port) { target = port; },
    async close() {
      for (const c of conns) { c.client.destroy(); c.server.destroy(); }
      server.close();
    },
  };
}
