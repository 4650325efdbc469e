// WebSocket through stopline, with the real `ws` package on both ends (a ws server as the upstream, a ws client in
// front of two replicas that share one Redis).
//
// The bug this guards against: stopline stripped `Upgrade`/`Connection` as hop-by-hop fields and sent the handshake
// on as a plain GET, so the service answered 426 and WebSockets could not work through it at all.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import WebSocket, { WebSocketServer } from 'ws';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { metric, startReplica, type Replica } from '../helpers/stopline.ts';
import { until } from '../helpers/net.ts';

let redis: RedisServer;
let http: Server;
let wss: WebSocketServer;
let upstreamUrl: string;
const replicas: Replica[] = [];
/** The upstream side of each accepted socket, with the handshake request it saw. */
const accepted: { ws: WebSocket; req: IncomingMessage }[] = [];

before(async () => {
  redis = await startRedis();
  http = createServer((_req, res) => res.writeHead(426, { 'content-type': 'text/plain' }).end('Upgrade Required'));
  wss = new WebSocketServer({ noServer: true });
  http.on('upgrade', (req, socket, head) => {
    // A handshake the service refuses: its own answer must reach the client.
    if (req.url === '/ws/forbidden') { socket.end('HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain\r\ncontent-length: 7\r\n\r\nno way\n'); return; }
    wss.handleUpgrade(req, socket, head, (ws) => {
      accepted.push({ ws, req });
      wss.emit('connection', ws, req);
    });
  });
  wss.on('connection', (ws) => {
    // Echoes every message back, as it came (text as text, binary as binary).
    ws.on('message', (data, isBinary) => { if ((ws as { echo?: boolean }).echo !== false) ws.send(data, { binary: isBinary }); });
  });
  http.listen(0, '127.0.0.1');
  await once(http, 'listening');
  upstreamUrl = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  for (const id of ['ws-a', 'ws-b']) replicas.push(await startReplica({ STOPLINE_UPSTREAM: upstreamUrl, STOPLINE_REDIS_URL: redis.url, STOPLINE_NODE_ID: id }));
});

after(async () => {
  await Promise.allSettled(replicas.map((r) => r.close()));
  for (const c of wss.clients) c.terminate();
  http.closeAllConnections();
  http.close();
  await redis.stop();
});

async function open(r: Replica, path: string, protocols?: string[]): Promise<{ client: WebSocket; server: WebSocket; req: IncomingMessage }> {
  const n = accepted.length;
  const client = new WebSocket(`ws://127.0.0.1:${r.port}${path}`, protocols);
  await once(client, 'open');
  await until('the upstream accepted the socket', () => accepted.length > n);
  const a = accepted[n]!;
  return { client, server: a.ws, req: a.req };
}

const next = (ws: WebSocket) => once(ws, 'message') as Promise<[Buffer, boolean]>;

test('handshake through each replica: headers intact, text and 256 KiB binary both ways, close codes both ways', async () => {
  for (const r of replicas) {
    const { client, server, req } = await open(r, '/ws/chat?room=1', ['chat.v1']);
    assert.equal(client.protocol, 'chat.v1', 'the subprotocol the upstream chose reaches the client');
    assert.equal(req.url, '/ws/chat?room=1');
    assert.equal(req.headers['sec-websocket-protocol'], 'chat.v1');
    assert.equal(req.headers.upgrade, 'websocket');
    assert.ok(req.headers['x-forwarded-for']);

    client.send('hello');
    const [text, textBinary] = await next(client);
    assert.equal(text.toString(), 'hello');
    assert.equal(textBinary, false);

    const big = Buffer.alloc(256 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    client.send(big);
    const [echoed, binary] = await next(client);
    assert.equal(binary, true);
    assert.ok(echoed.equals(big), 'the 256 KiB binary message came back byte for byte');
    server.send(big);
    const [down] = await next(client);
    assert.ok(down.equals(big));

    const m = await r.metrics();
    assert.equal(metric(m, 'stopline_upgrades_active'), 1);
    assert.equal(metric(m, 'stopline_streams_active'), 0, 'a tunnel is never a tracked stream');

    // The client closes with its code and reason; the upstream sees them, and the close completes on both ends.
    const serverClosed = once(server, 'close');
    client.close(4001, 'client done');
    const [code, reason] = await serverClosed as [number, Buffer];
    assert.equal(code, 4001);
    assert.equal(reason.toString(), 'client done');
    await once(client, 'close');
    await until('the tunnel is closed', async () => metric(await r.metrics(), 'stopline_upgrades_active') === 0);

    // The upstream closes with its code; the client sees it.
    const second = await open(r, '/ws/chat');
    const clientClosed = once(second.client, 'close');
    second.server.close(4002, 'server done');
    const [code2, reason2] = await clientClosed as [number, Buffer];
    assert.equal(code2, 4002);
    assert.equal(reason2.toString(), 'server done');
    await until('the tunnel is closed', async () => metric(await r.metrics(), 'stopline_upgrades_active') === 0);
    assert.equal(metric(await r.metrics(), 'stopline_upgrades_total', { result: 'upgraded' }), 2);
  }
});

test('a refused handshake gets the upstream\'s own answer', async () => {
  const client = new WebSocket(`ws://127.0.0.1:${replicas[0]!.port}/ws/forbidden`);
  client.on('error', () => {});
  const [, res] = await once(client, 'unexpected-response') as [unknown, IncomingMessage];
  assert.equal(res.statusCode, 403);
  let body = '';
  for await (const c of res) body += c;
  assert.equal(body, 'no way\n');
  client.terminate();
  assert.equal(metric(await replicas[0]!.metrics(), 'stopline_upgrades_total', { result: 'refused' }), 1);
});

/** The two sockets of the tunnel `open` made (the one tunnel that was not open before it), as [client, upstream]. */
async function openTunnel(r: Replica, path: string): Promise<{ client: WebSocket; server: WebSocket; fromClient: Duplex; fromUpstream: Duplex }> {
  const before = new Set([...r.app.tunnels.sockets()].map(([c]) => c));
  const { client, server } = await open(r, path);
  const added = [...r.app.tunnels.sockets()].filter(([c]) => !before.has(c));
  assert.equal(added.length, 1, 'one new tunnel for this socket');
  const [fromClient, fromUpstream] = added[0]!;
  return { client, server, fromClient, fromUpstream };
}

/** The bytes stopline holds for one tunnel: what its two sockets have read and not yet passed on, and what they
 * have been given to write and not yet written. */
const held = (sockets: readonly Duplex[]) => sockets.reduce((n, s) => n + s.readableLength + s.writableLength, 0);

// The bug this guards against: a tunnel that copies each chunk on (`on('data', d => other.write(d))`) never pauses
// the side that sends, so a slow reader makes stopline hold everything the other side sends, in memory, unbounded.
// With backpressure, the tunnel stops reading the sender once the reader's socket is full: stopline holds about a
// socket buffer and a read (64 KiB each), and the rest waits in the sender. The sender here sends 64 MiB, more than
// the kernel's buffers on both connections take, so a tunnel that never pauses ends up holding tens of MiB. Each
// direction is checked on its own tunnel, counting only that tunnel's bytes.
const heldBound = 1024 * 1024;
for (const direction of ['downstream', 'upstream'] as const) {
  test(`a paused reader (${direction}) holds the flow at the sender, then gets every message in order`, async () => {
    const r = replicas[1]!;
    const { client, server, fromClient, fromUpstream } = await openTunnel(r, `/ws/flood-${direction}`);
    try {
      (server as { echo?: boolean }).echo = false;
      // downstream: the upstream sends to a client that reads nothing; upstream: the client sends to an upstream
      // that reads nothing, and the tunnel must pause its read of the client.
      const [reader, sender, source] = direction === 'downstream' ? [client, server, fromUpstream] : [server, client, fromClient];
      reader.pause(); // its socket reads nothing until it resumes
      const total = 64;
      for (let i = 0; i < total; i++) {
        const m = Buffer.alloc(1024 * 1024, 7);
        m.writeUInt32BE(i);
        sender.send(m);
      }
      // Either the tunnel pauses the socket it reads the sender from, or it holds more than the bound: which comes first.
      const tunnel = [fromClient, fromUpstream];
      await until('the tunnel pauses its source, or holds more than the bound', () => source.isPaused() || held(tunnel) > heldBound, 400);
      assert.ok(held(tunnel) <= heldBound, `stopline holds ${held(tunnel)} bytes for a paused reader`);
      assert.ok(sender.bufferedAmount > 0, 'the rest waits in the sender');
      // Resumed, the reader gets every message, whole and in order.
      const got: number[] = [];
      const all = new Promise<void>((resolve) => reader.on('message', (d: Buffer) => {
        got.push(d.length === 1024 * 1024 ? d.readUInt32BE(0) : -1);
        if (got.length === total) resolve();
      }));
      reader.resume();
      await all;
      assert.deepEqual(got, Array.from({ length: total }, (_, i) => i));
      client.close(1000);
      await once(client, 'close');
    } finally {
      // A failed check leaves nothing open for the next test: every socket of this tunnel cut, the tunnel gone.
      for (const s of [client, server]) s.terminate();
      for (const s of [fromClient, fromUpstream]) s.destroy();
      await until('the tunnel is closed', () => ![...r.app.tunnels.sockets()].some(([c]) => c === fromClient));
    }
  });
}

test('closing the replica closes its open tunnels', async () => {
  const r = await startReplica({ STOPLINE_UPSTREAM: upstreamUrl });
  const { client, server } = await open(r, '/ws/chat');
  const closed = Promise.all([once(client, 'close'), once(server, 'close')]);
  await r.close();
  await closed;
});

// The drain waits for tunnels too: an open WebSocket keeps working after the drain began, the drain ends once it
// closes (well before the drain timeout), and a socket still open at the deadline is cut then.
test('a drain lets an open WebSocket go on until it closes, and cuts one still open at its deadline', async () => {
  const r = await startReplica({ STOPLINE_UPSTREAM: upstreamUrl, STOPLINE_REDIS_URL: redis.url, STOPLINE_NODE_ID: 'ws-drain', STOPLINE_DRAIN_TIMEOUT_S: '600' });
  const { client } = await open(r, '/ws/drain');
  let drained = false;
  const drain = r.app.drain().then(() => { drained = true; });
  await until('the replica is draining', async () => metric(await r.metrics().catch(() => ''), 'stopline_draining') === 1);
  client.send('still here');
  const [echo] = await next(client);
  assert.equal(echo.toString(), 'still here', 'the tunnel works during the drain');
  assert.equal(drained, false, 'the drain waits for the open tunnel');
  client.close(1000, 'done');
  await drain;
  assert.equal(r.app.config.drainTimeoutS, 600, 'ended by the socket closing, not by the deadline');

  const short = await startReplica({ STOPLINE_UPSTREAM: upstreamUrl, STOPLINE_REDIS_URL: redis.url, STOPLINE_NODE_ID: 'ws-cut', STOPLINE_DRAIN_TIMEOUT_S: '0' });
  const held = await open(short, '/ws/held');
  const closedEvent = once(held.client, 'close');
  await short.app.drain();
  const [code] = await closedEvent as [number];
  assert.equal(code, 1006, 'cut at the deadline: no close frame');
});
