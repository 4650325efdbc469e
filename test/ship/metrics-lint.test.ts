// `promtool check metrics` (Prometheus' own linter: names, units, suffixes, HELP and TYPE) on the live /metrics of a
// running replica with Redis, after one stream that completed and one that was cancelled, so the labelled series
// and histograms exist. prom-client's default process metrics nodejs_active_{handles,requests,resources}_total are
// gauges whose names end in _total; they are prom-client's names, kept so the usual Node.js dashboards work, and
// are the only findings excepted.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { postJson, stream } from '../helpers/client.ts';
import { upstreamAndRedis } from '../helpers/scenarios.ts';
import { startReplica, type Replica } from '../helpers/stopline.ts';

const excepted = new Set(['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'].map((m) => `${m} non-counter metrics should not have "_total" suffix`));

function promtoolCheckMetrics(text: string): { status: number | null; findings: string[] } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error) throw r.error;
  const findings = `${r.stdout}\n${r.stderr}`.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  return { status: r.status, findings };
}

describe('promtool check metrics', () => {
  const f = upstreamAndRedis();
  let replica: Replica;
  before(async () => {
    replica = await startReplica({ STOPLINE_UPSTREAM: f.up.url, STOPLINE_REDIS_URL: f.redis.url });
  });
  after(() => replica.close());

  it('finds nothing on a live /metrics but prom-client\'s own _total gauges', async () => {
    const done = await stream(`${replica.url}/api/chat/stream?chunks=3&interval=1`, { body: JSON.stringify({ session_id: 'lint-1', message_id: 'm1' }) }).result;
    assert.equal(done.status, 200);
    const s = stream(`${replica.url}/api/chat/stream?chunks=100000&interval=5`, { body: JSON.stringify({ session_id: 'lint-2', message_id: 'm1' }) });
    await s.waitFor((t) => t.includes('word1 '));
    const cancel = await postJson(`${replica.url}/stopline/v1/cancel`, { session_id: 'lint-2', message_id: 'm1' });
    assert.equal(cancel.json.outcome, 'stopped', JSON.stringify(cancel.json));
    await s.result;

    const text = await replica.metrics();
    assert.match(text, /^stopline_streams_total\{[^}]*outcome="cancelled"/m, 'the cancelled stream is on /metrics');
    const { status, findings } = promtoolCheckMetrics(text);
    assert.deepEqual(findings.filter((l) => !excepted.has(l)), [], findings.join('\n'));
    // each exception is still needed (else it would hide a finding of ours one day)
    for (const e of excepted) assert.ok(findings.includes(e), `promtool no longer reports "${e}": drop the exception`);
    assert.equal(status, 3, 'promtool exits 3 for lint findings');
  });

  it('is the real linter: it reports a gauge named like a counter and a metric without a unit suffix', () => {
    const bad = ['# HELP demo_requests_total Requests.', '# TYPE demo_requests_total gauge', 'demo_requests_total 1', '# HELP demo_latency_milliseconds Latency.', '# TYPE demo_latency_milliseconds gauge', 'demo_latency_milliseconds 3', ''].join('\n');
    const { status, findings } = promtoolCheckMetrics(bad);
    assert.notEqual(status, 0);
    assert.ok(findings.some((l) => l.startsWith('demo_requests_total non-counter metrics should not have "_total" suffix')), findings.join('\n'));
    assert.ok(findings.some((l) => l.startsWith('demo_latency_milliseconds use base unit "seconds" instead of "milliseconds"')), findings.join('\n'));
  });
});
