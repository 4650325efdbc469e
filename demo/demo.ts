// stopline's demo: a streaming upstream, Redis (if redis-server is installed), two replicas, a stream started on
// replica A and stopped from replica B. Prints the outcome, both cancel-to-stop times, and where the metrics are.
//   npm run demo
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { request } from 'node:http';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/log.ts';

const say = (s: string) => process.stdout.write(`${s}\n`);
const port = async (): Promise<number> => {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const p = (s.address() as AddressInfo).port;
  s.close();
  await once(s, 'close');
  return p;
};

// 1. A streaming "AI service": one token every 50 ms, and it tells us when its client goes away.
let produced = 0;
let sawDisconnect = false;
// Resolved when the latest request's connection closes: the stream is over for the upstream too. The client's
// stream may end a moment before the upstream's side of the aborted request closes; the result waits for both.
let upstreamClosed: Promise<void> = Promise.resolve();
const upstream = createServer((_req, res) => {
  // One answer at a time: the figures printed are those of the latest request.
  produced = 0;
  sawDisconnect = false;
  const closed = Promise.withResolvers<void>();
  upstreamClosed = closed.promise;
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  let i = 0;
  const timer = setInterval(() => {
    res.write(`data: ${JSON.stringify({ token: `token-${i++} ` })}\n\n`);
    produced = i;
  }, 50);
  res.on('close', () => { clearInterval(timer); if (!res.writableFinished) sawDisconnect = true; closed.resolve(); });
});
upstream.listen(0, '127.0.0.1');
await once(upstream, 'listening');
const upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
say(`upstream (a streaming AI service)   ${upstreamUrl}`);

// 2. Redis, if it is installed.
let redis: ChildProcess | null = null;
let redisUrl: string | undefined;
try {
  const p = await port();
  redis = spawn('redis-server', ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise<void>((resolve, reject) => {
    redis!.once('error', reject);
    redis!.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('Ready to accept connections')) resolve(); });
  });
  redisUrl = `redis://127.0.0.1:${p}`;
  say(`redis                               ${redisUrl}`);
} catch {
  redis = null;
  say('redis-server is not installed: single-node mode (one replica, the stop is local). Install it: apt-get install redis-server');
}

// 3. Two replicas.
const replica = async (id: string) => {
  const config = loadConfig({
    STOPLINE_LISTEN: '127.0.0.1:0', STOPLINE_ADMIN_LISTEN: '127.0.0.1:0', STOPLINE_UPSTREAM: upstreamUrl,
    STOPLINE_NODE_ID: id, ...(redisUrl ? { STOPLINE_REDIS_URL: redisUrl } : {}),
  });
  const app = createApp(config, createLogger('warn', { node: id }));
  const ports = await app.start();
  return { app, url: `http://127.0.0.1:${ports.port}`, admin: `http://127.0.0.1:${ports.adminPort}` };
};
const a = await replica('replica-a');
const b = redisUrl ? await replica('replica-b') : a;
say(`replica A                           ${a.url}   (metrics ${a.admin}/metrics)`);
if (b !== a) say(`replica B                           ${b.url}   (metrics ${b.admin}/metrics)`);
await new Promise((r) => setTimeout(r, 300)); // let both subscribers settle

// A warm-up, not shown: one stream and one cross-replica stop, so the figures below are warm (code compiled,
// scripts loaded in Redis, connections open), as the figures of a running service are.
for (let i = 0; i < 3; i++) {
  const ids = { session_id: 'warm-up', message_id: `warm-${i}` };
  const ctrl = new AbortController();
  const res = await fetch(`${a.url}/api/chat/stream`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ids), signal: ctrl.signal });
  const reader = res.body!.getReader();
  await reader.read();
  await (await fetch(`${b.url}/stopline/v1/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ids) })).text();
  while (!(await reader.read()).done) { /* drain to the end */ }
}

// 4. A chat stream through replica A.
say('\n--> POST replica A /api/chat/stream  {"session_id":"demo-session","message_id":"demo-message"}');
let text = '';
let ended = 0;
const { promise: done, resolve: onEnd } = Promise.withResolvers<void>();
const req = request(`${a.url}/api/chat/stream`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
  res.setEncoding('utf8');
  res.on('data', (d: string) => {
    text += d;
    for (const line of d.split('\n')) if (line.startsWith('data:') || line.startsWith('event:')) say(`    A> ${line}`);
  });
  res.on('end', () => { ended = performance.now(); onEnd(); });
});
req.end(JSON.stringify({ session_id: 'demo-session', message_id: 'demo-message' }));
while ((text.match(/token-/g) ?? []).length < 8) await new Promise((r) => setTimeout(r, 20));

// 5. The stop button, pressed on replica B.
say(`\n--> POST replica ${b === a ? 'A' : 'B'} /stopline/v1/cancel  {"session_id":"demo-session","message_id":"demo-message"}`);
const sent = performance.now();
const answer = await fetch(`${b.url}/stopline/v1/cancel`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ session_id: 'demo-session', message_id: 'demo-message' }) });
const body = await answer.json() as { outcome: string; owner: string; cancel_to_stop_ms: number; path: string };
await done;
// Bounded: an upstream that never saw its client go away is reported as such after a second.
let bound: NodeJS.Timeout | undefined;
await Promise.race([upstreamClosed, new Promise<void>((r) => { bound = setTimeout(r, 1_000); })]);
clearTimeout(bound);
say(`<-- ${answer.status} ${JSON.stringify(body)}`);
say('\nresult');
say(`  outcome                           ${body.outcome} (owner ${body.owner}, path ${body.path})`);
say(`  cancel_to_stop_ms (server side)   ${body.cancel_to_stop_ms} ms: cancel received -> owner confirmed`);
say(`  client side                       ${(ended - sent).toFixed(2)} ms: cancel sent -> stream ended at the client`);
say(`  upstream saw its client go away   ${sawDisconnect}; it produced ${produced} tokens`);
say(`  the stream ended with             ${text.includes('event: stopline.cancelled') ? 'event: stopline.cancelled' : '(no terminal event)'}`);
// The replicas close below, so their metrics are read now rather than offered as a command for a closed port.
const metricsText = await (await fetch(`${a.admin}/metrics`)).text();
const wanted = /^stopline_(streams_total|cancel_checks_total|redis_up|streams_active) /;
say(`\nreplica A's metrics (GET ${a.admin}/metrics, a few of them; the replicas stop when the demo ends)`);
for (const line of metricsText.split('\n')) if (wanted.test(line.replace(/\{[^}]*\}/, ''))) say(`  ${line}`);

await a.app.close();
if (b !== a) await b.app.close();
upstream.closeAllConnections();
upstream.close();
redis?.kill();
process.exitCode = body.outcome === 'stopped' ? 0 : 1;
