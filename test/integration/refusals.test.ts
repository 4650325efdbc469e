// Early refusals a client that is still sending can read.
//
// The bug this guards against: a JSON body declared larger than STOPLINE_MAX_BODY_BYTES was refused as soon as its
// length was seen and the connection closed with the body unread: the client, still writing, got EPIPE or a reset
// instead of the 413 in most tries. Now the refusal comes before `100 Continue` when the client asked for one, and
// otherwise the rest of the body is read and discarded (bounded) before the connection is let go.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
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

/**
 * One POST of `size` bytes of JSON on a raw socket, sent the way many clients send (Python's http.client, curl
 * without Expect): the whole body first, the answer read after. Resolves with the status read, or the error got.
 */
function post(size: number, expect: boolean): Promise<number | string> {
  const body = Buffer.alloc(size, 0x20);
  body.write('{"session_id":"big","pad":"', 0);
  body.write('"}', size - 2);
  // With Expect the length is declared (refused before 100 Continue); without, the body is chunked, so stopline
  // counts it and refuses it once past the bound, with the rest of it still coming.
  const framing = expect ? `content-length: ${size}\r\nexpect: 100-continue` : 'transfer-encoding: chunked';
  const head = `POST /api/chat/stream HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\naccept: text/event-stream\r\n${framing}\r\n\r\n`;
  return new Promise((resolve) => {
    const socket = connect(sl.port, '127.0.0.1');
    let text = '';
    let sent = false;
    const send = () => {
      sent = true;
      if (expect) { socket.write(body, () => socket.resume()); return; }
      socket.write(`${size.toString(16)}\r\n`);
      socket.write(body);
      socket.write('\r\n0\r\n\r\n', () => socket.resume());
    };
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (expect && !sent && /^HTTP\/1\.1 100 /.test(text)) { text = text.slice(text.indexOf('\r\n\r\n') + 4); send(); return; }
      const m = /^HTTP\/1\.1 (\d{3}) /.exec(text);
      if (m && text.includes('\r\n\r\n')) { resolve(Number(m[1])); socket.destroy(); }
    });
    socket.on('close', () => resolve(`closed after ${JSON.stringify(text.slice(0, 40))}`));
    socket.write(head);
    if (expect) return;
    // Nothing is read until the whole body is written (the kernel took it all).
    socket.pause();
    send();
  });
}

for (const expect of [false, true]) {
  test(`413 is read by the client in every one of 20 tries ${expect ? 'with' : 'without'} Expect: 100-continue`, async () => {
    const got: (number | string)[] = [];
    for (let i = 0; i < 20; i++) got.push(await post(12 * 1024 * 1024, expect));
    assert.deepEqual(got, Array(20).fill(413));
  });
}

test('a body within the bound is told to continue and goes through', async () => {
  assert.equal(await post(1024, true), 200);
});
