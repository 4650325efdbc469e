// Regression: a session-wide cancel learns which streams it flagged from its script's reply, while the owners'
// confirmations come on the Pub/Sub connection. Under load the canceller may read a confirmation before that
// reply; the coordinator dropped such a confirmation as "not expected", waited out STOPLINE_CANCEL_WAIT_MS and
// answered `accepted` for a stream that had been stopped. Here the store delivers the confirmation before it
// returns, which is that order made certain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Coordinator } from '../../src/cancel/coordinator.ts';
import { MemoryStore } from '../../src/cancel/memory-store.ts';
import { firstCursor, type ActiveStream } from '../../src/cancel/store.ts';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';
import { createMetrics } from '../../src/observability/metrics.ts';
import { Registry } from '../../src/streams/registry.ts';

class ConfirmsFirst extends MemoryStore {
  coordinator: Coordinator | null = null;
  override async cancelSession(sessionId: string, waiter: string, beforeMs?: number): Promise<ActiveStream[]> {
    const live = await super.cancelSession(sessionId, waiter, beforeMs);
    const cancelId = waiter.split('\t')[1]!;
    for (const s of live) this.coordinator!.onConfirm(cancelId, s.messageId, { outcome: 'cancelled', owner: s.owner, via: 'pubsub' });
    return live;
  }
}

test('a confirmation read before the session-wide cancel step returns is kept', async () => {
  // A Redis URL makes the coordinator treat streams as possibly elsewhere; the store here is in process.
  const config = loadConfig({ STOPLINE_REDIS_URL: 'redis://127.0.0.1:1', STOPLINE_NODE_ID: 'here', STOPLINE_CANCEL_WAIT_MS: '2000' });
  const store = new ConfirmsFirst(300);
  const coordinator = new Coordinator(config, store, new Registry(), createMetrics('test'), createLogger('silent', {}));
  store.coordinator = coordinator;
  await store.poll('elsewhere', 'e', firstCursor); // the owner's heartbeat: its streams are live
  const r = { owner: 'elsewhere', trace: '', startedAtMs: Date.now(), again: false };
  await store.register({ sessionId: 's', messageId: 'a' }, r);
  await store.register({ sessionId: 's', messageId: 'b' }, r);
  const answer = await coordinator.cancel('s', undefined);
  assert.equal(answer.outcome, 'stopped', JSON.stringify(answer));
  assert.deepEqual([...answer.message_ids!].sort(), ['a', 'b']);
  assert.equal(answer.path, 'pubsub');
  coordinator.close();
});
