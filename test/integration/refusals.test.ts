// Early refusals a client that is still sending can read.
//
// The bug this guards against: a JSON body declared larger than STOPLINE_MAX_BODY_BYTES was refused as soon as its
// length was seen and the connection closed with the body unread. Closing a socket with unread bytes in its receive
// buffer makes the kernel answer with a reset (RST), and a reset makes the client's kernel drop what it had received
// and not yet read: the 413 was lost, and the client, still writing, got EPIPE or ECONNRESET instead in most tries.
// Now the refusal comes before `100 Continue` when the client asked for one, and otherwise the rest of the body is
// read and discarded (bounded) before the connection is let go.
//
// The client here fails the way real ones do (Python's http.client, curl without Expect, most SDKs): it writes the
// head, then its whole body, each piece written only once the previous one was taken (awaited, as a blocking
// `send` does), and reads the answer only after that. Pieces of 64 KiB, 4 MiB in all: more than the kernel's buffers on
// both ends take, so the client is still writing long after the refusal was sent.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { startReplica, type Replica } from '../helpers/stopline.ts';

let up: Upstream;
let sl: Replica;

before(async () => {
  up = await startUpstream();
  sl = await startReplica({ STOPLINE_UPSTREAM: up.url, STOPLINE_MAX_BODY_BYTES: '65536' });
});

after(async () => {
  await sl.close();
  await up.close();
});

const piece = 64 * 1024;

function jsonBody(size: number): Buffer {
  const body = Buffer.alloc(size, 0x20);
  body.write('{"session_id":"big","pad":"', 0);
  body.write('"}', size - 2);
  return body;
}

function head(framing: string): string {
  return `POST /api/chat/stream HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\naccept: text/event-stream\r\n${framing}\r\n\r\n`;
}

/** Resolves once the kernel took `data` (the write's callback), rejects with the write's error. */
function write(socket: Socket, data: string | Buffer): Promise<void> {
  return new Promise((resolve, reject) => socket.write(data, (err) => (err ? reject(err) : resolve())));
}

/** Reads one whole response (head, and a body of its Content-Length) from a paused socket, or what it got before
 * the connection ended: "<status> <body>" or "<error code> after <what was read>". */
async function readResponse(socket: Socket, headOnly = false, initial = ''): Promise<string> {
  let text = initial;
  const whole = () => {
    const end = text.indexOf('\r\n\r\n');
    if (end < 0) return false;
    if (headOnly) return true;
    const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, end));
    return length !== null && text.length >= end + 4 + Number(length[1]);
  };
  return new Promise((resolve) => {
    const done = (why: string) => {
      socket.destroy();
      if (!whole()) { resolve(`${why} after ${JSON.stringify(text.slice(0, 40))}`); return; }
      const end = text.indexOf('\r\n\r\n');
      resolve(`${/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? '?'} ${text.slice(end + 4)}`);
    };
    socket.on('data', (d: Buffer) => { text += d.toString('latin1'); if (whole()) done('read'); });
    socket.on('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
    socket.on('end', () => done('end'));
    if (whole()) { done('read'); return; }
    socket.resume();
  });
}

/**
 * One POST of `size` bytes of JSON without `Expect`: the head, then the body in awaited pieces, then the answer
 * read. The result says what the client read, or the error its writing or reading got.
 */
async function sendThenRead(size: number, framing: 'length' | 'chunked'): Promise<string> {
  const socket = connect(sl.port, '127.0.0.1');
  socket.pause(); // nothing is read until the whole body was written
  const failed = new Promise<string>((resolve) => socket.once('error', (err: NodeJS.ErrnoException) => resolve(`${err.code ?? err.message} while writing`)));
  await once(socket, 'connect');
  const body = jsonBody(size);
  const sending = (async () => {
    await write(socket, head(framing === 'length' ? `content-length: ${size}` : 'transfer-encoding: chunked'));
    for (let at = 0; at < size; at += piece) {
      const part = body.subarray(at, at + piece);
      await write(socket, framing === 'length' ? part : Buffer.concat([Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n')]));
    }
    if (framing === 'chunked') await write(socket, '0\r\n\r\n');
    return 'sent';
  })().catch((err: NodeJS.ErrnoException) => `${err.code ?? err.message} while writing`);
  const sent = await Promise.race([sending, failed]);
  if (sent !== 'sent') { socket.destroy(); return sent; }
  return readResponse(socket);
}

const refused = `413 ${JSON.stringify({ error: 'payload_too_large', message: 'Request body is larger than 65536 bytes' })}`;

for (const framing of ['length', 'chunked'] as const) {
  const how = framing === 'length' ? 'a Content-Length over the bound' : 'a chunked body past the bound';
  test(`413 without Expect is read by the client in every one of 20 tries (${how}, 4 MiB written before reading)`, async () => {
    const got: string[] = [];
    for (let i = 0; i < 20; i++) got.push(await sendThenRead(4 * 1024 * 1024, framing));
    assert.deepEqual(got, Array(20).fill(refused));
  });
}

/**
 * One POST with `Expect: 100-continue`: the head only, then what comes first. A client that gets `100 Continue`
 * sends its body; one that gets a final answer first sends nothing.
 */
async function expectFirst(size: number): Promise<string> {
  const socket = connect(sl.port, '127.0.0.1');
  await once(socket, 'connect');
  await write(socket, head(`content-length: ${size}\r\nexpect: 100-continue`));
  const text = await new Promise<string>((resolve) => {
    let t = '';
    const onData = (d: Buffer) => {
      t += d.toString('latin1');
      if (!t.includes('\r\n\r\n')) return;
      socket.off('data', onData);
      socket.pause();
      resolve(t);
    };
    socket.on('data', onData);
    socket.once('close', () => resolve(t));
  });
  const first = text.slice(0, text.indexOf('\r\n'));
  if (!first.startsWith('HTTP/1.1 100 ')) { socket.destroy(); return first; }
  await write(socket, jsonBody(size));
  const rest = await readResponse(socket, true, text.slice(text.indexOf('\r\n\r\n') + 4));
  return `${first} then ${rest.slice(0, 3)}`;
}

test('with Expect: 100-continue, a body over the bound is refused before 100 Continue, in every one of 20 tries', async () => {
  const got: string[] = [];
  for (let i = 0; i < 20; i++) got.push(await expectFirst(4 * 1024 * 1024));
  assert.deepEqual(got, Array(20).fill('HTTP/1.1 413 Payload Too Large'));
});

test('with Expect: 100-continue, a body within the bound is told to continue and goes through', async () => {
  assert.equal(await expectFirst(1024), 'HTTP/1.1 100 Continue then 200');
});
