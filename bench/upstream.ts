// The benchmark's upstream: a streaming "AI service" in a process of its own (so its CPU is not the relay's), forked
// by bench.ts with an IPC channel. Every SSE event carries the time it was written (process.hrtime.bigint(), which
// is CLOCK_MONOTONIC and so shared by every process on the host, in microseconds), so the client can compute the
// delay of each event. Events follow an absolute schedule (event i is due at start + i * interval), so timer drift
// never stretches an answer. When a client goes away before the answer is complete, the upstream stops generating
// and reports, over IPC, when it noticed and how many events it had produced.
//
//   POST /stream?id=<stream id>&n=<events>&iv=<interval in µs>     (the request body is read and ignored)
//
// IPC in:  { k: 'live' }                      -> { k: 'live', n: <streams in progress> }
//          { k: 'cut' }                       -> { k: 'cut', n: <streams cut> }: ends every stream in progress (a
//                                                relay that never aborts its upstream must not leave generations
//                                                running into the next workload)
// IPC out: { k: 'ready', port }               once listening
//          { k: 'abort', id, at, produced }   a client went away (at: µs, same clock as the events)
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

const nowUs = (): number => Number(process.hrtime.bigint() / 1000n);
let live = 0;
/** The streams in progress, each with what ends it. */
const open = new Map<ServerResponse, () => void>();

function send(msg: unknown): void {
  if (process.connected) process.send?.(msg);
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://upstream');
  if (url.pathname !== '/stream') {
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    return;
  }
  const id = url.searchParams.get('id') ?? '';
  const n = Number(url.searchParams.get('n') ?? '100');
  const iv = Number(url.searchParams.get('iv') ?? '10000');
  req.resume(); // the body (ids for the relay) is not needed here
  live++;
  let produced = 0;
  let over = false;
  let timer: NodeJS.Timeout | null = null;
  const finish = () => {
    if (over) return;
    over = true;
    live--;
    open.delete(res);
    if (timer !== null) clearTimeout(timer);
  };
  res.on('close', () => {
    if (over) return;
    const at = nowUs();
    finish();
    send({ k: 'abort', id, at, produced });
  });
  open.set(res, finish);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.flushHeaders();
  const start = nowUs();
  const tick = () => {
    timer = null;
    if (over) return;
    // Write every event that is due (normally one), then sleep until the next one is.
    let burst = 0;
    for (;;) {
      const t = nowUs();
      const due = start + produced * iv;
      if (due > t) {
        timer = setTimeout(tick, Math.max(0, Math.floor((due - t) / 1000)));
        return;
      }
      res.write(`data: {"i":${produced},"t":${t},"tok":"word${produced} "}\n\n`);
      produced++;
      if (produced >= n) {
        finish();
        res.end();
        return;
      }
      if (++burst >= 16) { // late: catch up, but let the event loop turn
        timer = setTimeout(tick, 0);
        return;
      }
    }
  };
  tick();
}

const server = createServer({ noDelay: true, keepAliveTimeout: 60_000, requestTimeout: 0 }, handle);
server.maxHeadersCount = 100;
server.listen(0, '127.0.0.1', () => {
  send({ k: 'ready', port: (server.address() as AddressInfo).port });
});
process.on('message', (m: { k?: string }) => {
  if (m.k === 'live') send({ k: 'live', n: live });
  if (m.k === 'cut') {
    const n = open.size;
    // Cut, not aborted by a client: finished first, so no 'abort' is reported for them.
    for (const [res, finish] of [...open]) { finish(); res.destroy(); }
    send({ k: 'cut', n });
  }
});
process.on('disconnect', () => process.exit(0));
