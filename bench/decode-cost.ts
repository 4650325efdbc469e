// The CPU cost per token event of decoding a stream the upstream compressed anyway (src/relay/decoding.ts), beside
// what compressing it with a flush per event costs the upstream. Events are OpenAI chat chunks of one token each,
// written one at a time as a streaming service writes them; CPU is the whole process' (zlib runs on libuv's pool).
//   npm run bench:decode                  20,000 events per coding, 5 rounds, the median
//   npm run bench:decode -- --events 5000 --rounds 3
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';
import { Decoder, type Coding } from '../src/relay/decoding.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '20000' }, rounds: { type: 'string', default: '5' } } });
const events = Number(values.events);
const rounds = Number(values.rounds);

const event = (i: number) => Buffer.from(`data: ${JSON.stringify({ id: 'chatcmpl-bench', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o-mini', choices: [{ index: 0, delta: { content: ` token${i}` }, finish_reason: null }] })}\n\n`);
const plain = Array.from({ length: events }, (_, i) => event(i));

function compressor(coding: Coding): zlib.Gzip | zlib.BrotliCompress | zlib.ZstdCompress | zlib.Deflate {
  switch (coding) {
    case 'gzip': return zlib.createGzip();
    case 'deflate': return zlib.createDeflate();
    case 'br': return zlib.createBrotliCompress({ params: { [zlib.constants.BROTLI_PARAM_QUALITY]: 4 } }); // compression()'s default
    case 'zstd': return zlib.createZstdCompress();
  }
}

/** The upstream's side: each event written and flushed (as compression() does on res.flush()); returns the chunks. */
async function encode(coding: Coding): Promise<{ cpuUs: number; chunks: Buffer[] }> {
  const z = compressor(coding);
  const chunks: Buffer[] = [];
  z.on('data', (c: Buffer) => chunks.push(c));
  const t = process.cpuUsage();
  for (const e of plain) {
    z.write(e);
    await new Promise<void>((resolve) => z.flush(() => resolve()));
  }
  const ended = new Promise<void>((resolve) => z.once('end', resolve));
  z.end();
  await ended;
  const u = process.cpuUsage(t);
  return { cpuUs: u.user + u.system, chunks };
}

/** stopline's side: each upstream chunk through the Decoder (one decompressor call each), with its backpressure. */
async function decode(coding: Coding, chunks: Buffer[]): Promise<{ cpuUs: number; bytes: number }> {
  let bytes = 0;
  let drained: (() => void) | null = null;
  const done = Promise.withResolvers<void>();
  const d = new Decoder(coding, {
    decoded: (p) => { bytes += p.length; },
    decodedEnd: () => done.resolve(),
    decodeFailed: (err) => done.reject(err),
    decoderDrained: () => drained?.(),
  });
  const t = process.cpuUsage();
  for (const c of chunks) {
    if (!d.write(c)) await new Promise<void>((resolve) => { drained = resolve; });
  }
  d.end();
  await done.promise;
  const u = process.cpuUsage(t);
  return { cpuUs: u.user + u.system, bytes };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const expected = plain.reduce((n, e) => n + e.length, 0);
console.log(`${events} events of ~${Math.round(expected / events)} bytes, ${rounds} rounds (median), Node ${process.version}`);
for (const coding of ['gzip', 'br', 'deflate', 'zstd'] as const) {
  const enc: number[] = [];
  const dec: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const e = await encode(coding);
    // A flush that adds nothing new makes an empty chunk: the relay would never see it, so it is not fed.
    const chunks = e.chunks.filter((c) => c.length > 0);
    const d = await decode(coding, chunks);
    if (d.bytes !== expected) throw new Error(`${coding}: decoded ${d.bytes} bytes, expected ${expected}`);
    enc.push(e.cpuUs / events);
    dec.push(d.cpuUs / events);
  }
  console.log(`${coding.padEnd(8)} upstream compress+flush ${median(enc).toFixed(1).padStart(6)} µs/event   stopline decode ${median(dec).toFixed(1).padStart(6)} µs/event`);
}
