// A slow Redis used to look healthy: with +200 ms on every reply (four times the 50 ms bound) the request-path calls
// timed out, but the poll, allowed a second, succeeded and closed the breaker again, so stopline_redis_up read 1 on
// most samples and StoplineRedisDown never fired. Now a call slower than the bound counts against the breaker
// whatever its class, and only a probe within the bound closes it. Redis is slowed by a TCP proxy in front of a
// real redis-server; the replica's own samples of stopline_redis_up are then fed to the real alert rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { startReplica, metric } from '../helpers/stopline.ts';
import { until } from '../helpers/net.ts';
import { stream } from '../helpers/client.ts';
import { upstreamAndRedis } from '../helpers/scenarios.ts';
import { promtool, root, rulesFile } from '../ops/rules.ts';

const fx = upstreamAndRedis();

test('Redis slowed past the bound: stopline_redis_up stays 0 on every sample and StoplineRedisDown fires', async (t) => {
  const proxy = await startTcpProxy(fx.redis.port);
  const r = await startReplica({ STOPLINE_UPSTREAM: fx.up.url, STOPLINE_NODE_ID: 'slow', STOPLINE_REDIS_PREFIX: 'slow:', STOPLINE_REDIS_URL: `redis://127.0.0.1:${proxy.port}`, STOPLINE_POLL_INTERVAL_MS: '100', STOPLINE_CANCEL_MODE: 'poll' });
  const dir = await mkdtemp(join(tmpdir(), 'stopline-slow-'));
  t.after(async () => { await r.close(); await proxy.close(); await rm(dir, { recursive: true, force: true }); });
  await until('redis up', async () => metric(await r.metrics(), 'stopline_redis_up') === 1);
  // A live stream, so that each tick is a poll (allowed a second) and not the idle probe.
  const live = stream(`${r.url}/api/chat/stream?chunks=100000&interval=5`, { body: JSON.stringify({ session_id: 'slow', message_id: 'm' }) });
  t.after(() => live.destroy());
  await live.waitFor((text) => text.includes('word1 '));
  proxy.delay(200);
  await until('redis down', async () => metric(await r.metrics(), 'stopline_redis_up') === 0, 400);
  // Twelve samples, one per poll tick or so: every probe and poll in that time is answered, slowly.
  const samples: number[] = [];
  for (let i = 0; i < 12; i++) {
    samples.push(metric(await r.metrics(), 'stopline_redis_up'));
    await new Promise((res) => setTimeout(res, 150)); // sampling, as a scrape does: nothing to await
  }
  assert.deepEqual(samples, samples.map(() => 0), `stopline_redis_up while slow: ${samples.join(' ')}`);
  // The same samples as Prometheus would scrape them (every 15 s): the real rule fires.
  await copyFile(`${root}${rulesFile}`, join(dir, 'alerts.yaml'));
  await writeFile(join(dir, 'slow.test.yaml'), [
    'rule_files: [alerts.yaml]',
    'evaluation_interval: 15s',
    'tests:',
    '  - interval: 15s',
    '    input_series:',
    "      - series: 'stopline_redis_up{namespace=\"ai\", pod=\"chat-0\"}'",
    `        values: '${samples.join(' ')}'`,
    '    promql_expr_test:',
    "      - expr: 'ALERTS{alertname=\"StoplineRedisDown\"}'",
    '        eval_time: 165s',
    '        exp_samples:',
    "          - labels: 'ALERTS{alertname=\"StoplineRedisDown\", alertstate=\"firing\", severity=\"critical\", namespace=\"ai\", pod=\"chat-0\"}'",
    '            value: 1',
    '',
  ].join('\n'));
  const run = promtool('test', 'rules', join(dir, 'slow.test.yaml'));
  assert.equal(run.status, 0, run.output);
  // And back: at normal speed the probe closes the breaker.
  proxy.delay(0);
  await until('redis up again', async () => metric(await r.metrics(), 'stopline_redis_up') === 1, 400);
});
