// The README's first command: the demo prints a cross-replica stop and its times.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';

test('the demo stops a stream on replica A from replica B and says so', async () => {
  const p = spawn(process.execPath, ['demo/demo.ts'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => { out += d; });
  p.stderr.on('data', (d: Buffer) => { out += d; });
  const [code] = await once(p, 'exit');
  assert.equal(code, 0, out);
  assert.match(out, /outcome\s+stopped \(owner replica-a, path pubsub\)/);
  assert.match(out, /upstream saw its client go away\s+true/);
  assert.match(out, /the stream ended with\s+event: stopline\.cancelled/);
  assert.match(out, /cancel_to_stop_ms \(server side\)\s+[\d.]+ ms/);
});
