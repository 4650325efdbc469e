// The dashboard and the alerts, proven on a real Prometheus: two stopline replicas on one real Redis serve a small
// load (streams that complete, streams stopped across replicas and locally, every cancel outcome), then Redis stalls
// (SIGSTOP) long enough for timeouts, an open circuit and every fallback, and comes back. Resume is on for one
// route: a finished stream is followed on its owner, a follow on the other replica (no peers path) and one while
// Redis stalls answer 503, and a detached generation nobody resumes is aborted. Prometheus scrapes both
// admin ports every second with the `namespace` and `pod` target labels a PodMonitor would add, and evaluates
// dashboards/alerts.yaml every second. Every query of every panel of every dashboard must then return data, and
// when Redis dies for good, StoplineRedisDown must go pending, then firing (its `for:` shortened in a copy).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { postJson, stream, type StreamClient } from '../helpers/client.ts';
import { until } from '../helpers/net.ts';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { metric, startReplica, type Replica } from '../helpers/stopline.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { queries } from './dashboard-lint.ts';
import { api, type Prometheus, query, type Sample, startPrometheus } from './prometheus.ts';
import { root, rulesFile } from './rules.ts';

const namespace = 'test';
const podA = 'stopline-a';
const podB = 'stopline-b';
// StoplineRedisDown waits 1m in the shipped rules; the copy Prometheus loads waits this long instead.
const redisDownFor = '5s';

let up: Upstream | undefined;
let redis: RedisServer | undefined;
let a: Replica | undefined;
let b: Replica | undefined;
let prometheus: Prometheus | undefined;
const clients: StreamClient[] = [];

const shippedRules = readFileSync(`${root}${rulesFile}`, 'utf8');

/** The shipped rule file with only the `for:` of one alert changed, line for line. */
function withFor(text: string, alert: string, duration: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === `- alert: ${alert}`);
  assert.ok(start >= 0, `${alert} is in ${rulesFile}`);
  const end = lines.findIndex((l, i) => i > start && l.trim().startsWith('- alert:'));
  const at = lines.findIndex((l, i) => i > start && (end < 0 || i < end) && /^\s*for: \S+$/.test(l));
  assert.ok(at >= 0, `${alert} has a for: line`);
  lines[at] = lines[at]!.replace(/for: \S+$/, `for: ${duration}`);
  return lines.join('\n');
}
const testRules = withFor(shippedRules, 'StoplineRedisDown', redisDownFor);

// Each stream has its own session; its message id is `m-<session>`, so the upstream's record is easy to find.
const open = (r: Replica, q: string, session_id: string): StreamClient => {
  const s = stream(`${r.url}/api/chat/stream?${q}`, { body: JSON.stringify({ session_id, message_id: `m-${session_id}` }) });
  clients.push(s);
  return s;
};
const cancel = (r: Replica, body: unknown) => postJson(`${r.url}/stopline/v1/cancel`, body);
const resumable = '/api/chat/resumable';
const follow = (r: Replica, session: string) => stream(`${r.url}/stopline/v1/streams/${session}/m-${session}`, { method: 'GET' });
const gauge = async (r: Replica, name: string) => metric(await r.metrics(), name);

before(async () => {
  up = await startUpstream();
  redis = await startRedis();
  const env = {
    STOPLINE_UPSTREAM: up.url, STOPLINE_REDIS_URL: redis.url, STOPLINE_REDIS_TIMEOUT_MS: '250',
    // Resume on a route of its own, so that the other streams keep aborting upstream when their client goes away.
    STOPLINE_RESUME_ROUTES: `POST ${resumable}`, STOPLINE_RESUME_DETACH_MS: '200', STOPLINE_RESUME_KEEP_MS: '600000',
  };
  a = await startReplica({ ...env, STOPLINE_NODE_ID: podA });
  b = await startReplica({ ...env, STOPLINE_NODE_ID: podB });
  for (const r of [a, b]) await until('the Pub/Sub subscriber is verified', async () => (await gauge(r, 'stopline_redis_subscriber_up')) === 1);
  const target = (r: Replica, pod: string) => ({ targets: [new URL(r.adminUrl).host], labels: { namespace, pod } });
  prometheus = await startPrometheus({
    config: stringify({
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: ['alerts.yaml'],
      scrape_configs: [{ job_name: 'stopline', metrics_path: '/metrics', static_configs: [target(a, podA), target(b, podB)] }],
    }),
    files: { 'alerts.yaml': testRules },
  });
});

after(async () => {
  for (const s of clients) s.destroy();
  await Promise.allSettled([a?.close(), b?.close()]);
  await Promise.allSettled([prometheus?.stop(), redis?.stop(), up?.close()]);
});

test('the rule file Prometheus loads differs from the shipped one only in for: values', () => {
  const shipped = shippedRules.split('\n');
  const copy = testRules.split('\n');
  assert.equal(copy.length, shipped.length);
  const changed = copy.flatMap((l, i): [string, string][] => (l === shipped[i] ? [] : [[shipped[i]!, l]]));
  assert.equal(changed.length, 1, 'one line changed');
  for (const [was, now] of changed) {
    assert.match(was, /^\s*for: \S+$/);
    assert.match(now, /^\s*for: \S+$/);
  }
  type Rules = { groups: { rules: Record<string, unknown>[] }[] };
  const withoutFor = (doc: Rules) => doc.groups.map((g) => ({ ...g, rules: g.rules.map(({ for: _for, ...rest }) => rest) }));
  assert.deepEqual(withoutFor(parse(testRules) as Rules), withoutFor(parse(shippedRules) as Rules));
  const redisDown = (parse(testRules) as Rules).groups.flatMap((g) => g.rules).find((r) => r.alert === 'StoplineRedisDown');
  assert.equal(redisDown?.for, redisDownFor);
});

test('Prometheus loads every rule and scrapes both replicas with their namespace and pod', async () => {
  assert.ok(prometheus);
  const p = prometheus;
  const shippedCount = (parse(shippedRules) as { groups: { rules: unknown[] }[] }).groups.reduce((n, g) => n + g.rules.length, 0);
  const rules = await api<{ groups: { rules: unknown[] }[] }>(p, 'rules');
  assert.equal(rules.groups.reduce((n, g) => n + g.rules.length, 0), shippedCount);
  type Targets = { activeTargets: { labels: Record<string, string>; health: string }[] };
  await until('both targets are scraped', async () => {
    const t = await api<Targets>(p, 'targets');
    return t.activeTargets.filter((x) => x.health === 'up' && x.labels.namespace === namespace).length === 2;
  }, 300, 100);
  const t = await api<Targets>(p, 'targets');
  assert.deepEqual(t.activeTargets.map((x) => x.labels.pod).sort(), [podA, podB]);
});

test('a small load: streams complete, stop across replicas and locally; every cancel outcome', async () => {
  assert.ok(a && b && up && redis);
  // Two long streams stay live for the rest of the file: the safety poll runs (Redis latency has data) and the
  // active-streams panels show them.
  const longA = open(a, 'chunks=100000&interval=50', 'bg-a');
  const longB = open(b, 'chunks=100000&interval=50', 'bg-b');
  await Promise.all([longA.waitFor((t) => t.includes('word1 ')), longB.waitFor((t) => t.includes('word1 '))]);

  const done1 = open(a, 'chunks=20&interval=2', 'done-1');
  const done2 = open(b, 'chunks=20&interval=2&format=ndjson', 'done-2');
  for (const [s, session] of [[done1, 'done-1'], [done2, 'done-2']] as const) {
    const r = await s.result;
    assert.equal(r.complete, true);
    assert.equal(r.text, (await up.request(`m-${session}`)).sent, 'relayed byte for byte');
  }

  const x1 = open(a, 'chunks=100000&interval=5', 'cross-1');
  const x2 = open(b, 'chunks=100000&interval=5', 'cross-2');
  const x3 = open(a, 'chunks=100000&interval=5', 'local-1');
  await Promise.all([x1, x2, x3].map((s) => s.waitFor((t) => t.includes('word1 '))));
  const r1 = await cancel(b, { session_id: 'cross-1', message_id: 'm-cross-1' });
  assert.deepEqual([r1.status, r1.json.outcome, r1.json.path], [200, 'stopped', 'pubsub']);
  const r2 = await cancel(a, { session_id: 'cross-2', message_id: 'm-cross-2' });
  assert.deepEqual([r2.status, r2.json.outcome, r2.json.path], [200, 'stopped', 'pubsub']);
  const r3 = await cancel(a, { session_id: 'local-1', message_id: 'm-local-1' });
  assert.deepEqual([r3.status, r3.json.outcome, r3.json.path], [200, 'stopped', 'local']);
  for (const s of [x1, x2, x3]) assert.equal((await s.result).complete, true);

  const c = redis.client();
  await until('the finished stream is marked done', async () => (await c.exists('stopline:{done-1}:d:m-done-1')) === 1);
  const r4 = await cancel(b, { session_id: 'done-1', message_id: 'm-done-1' });
  assert.deepEqual([r4.status, r4.json.outcome], [200, 'already_completed']);
  const r5 = await cancel(b, { session_id: 'not-yet', message_id: 'm-not-yet' });
  assert.deepEqual([r5.status, r5.json.outcome], [202, 'pending']);
  const r6 = await cancel(a, { session_id: 'nobody-here' });
  assert.deepEqual([r6.status, r6.json.outcome], [404, 'not_found']);
  const r7 = await cancel(a, '{"session_id": "has spaces"}');
  assert.equal(r7.status, 400);

  const gone = open(b, 'chunks=100000&interval=5', 'gone-1');
  await gone.waitFor((t) => t.includes('word1 '));
  const goneUpstream = await up.request('m-gone-1');
  gone.destroy();
  await goneUpstream.done;
  const reset = open(a, 'chunks=100&interval=1&resetAfter=5', 'reset-1');
  assert.equal((await reset.result).complete, false);
});

test('resumes: followed on the owner, 503 elsewhere without a peers path, a detached generation aborted', async () => {
  assert.ok(a && b && up);
  const s = stream(`${a.url}${resumable}?chunks=20&interval=2`, { body: JSON.stringify({ session_id: 'resume-1', message_id: 'm-resume-1' }) });
  clients.push(s);
  assert.equal((await s.result).complete, true);
  const sent = (await up.request('m-resume-1')).sent;
  const onOwner = await follow(a, 'resume-1').result;
  assert.deepEqual([onOwner.status, onOwner.complete, onOwner.text === sent], [200, true, true]);
  const elsewhere = await follow(b, 'resume-1').result;
  assert.deepEqual([elsewhere.status, elsewhere.headers['retry-after']], [503, '1']);

  const detached = stream(`${b.url}${resumable}?chunks=100000&interval=5`, { body: JSON.stringify({ session_id: 'detach-1', message_id: 'm-detach-1' }) });
  clients.push(detached);
  await detached.waitFor((t) => t.includes('word1 '));
  const rec = await up.request('m-detach-1');
  detached.destroy();
  await rec.done;
  assert.equal(rec.aborted, true, 'aborted once the detach window passed without a follower');
  const ra = a;
  const rb = b;
  await until('the resumes and the detached end are counted', async () => {
    const ma = await ra.metrics();
    const mb = await rb.metrics();
    return metric(ma, 'stopline_resumes_total', { outcome: 'whole', path: 'local' }) === 1 &&
      metric(mb, 'stopline_resumes_total', { outcome: 'unavailable', path: 'peer' }) === 1 &&
      metric(mb, 'stopline_detached_streams_total', { end: 'aborted' }) === 1;
  });
});

test('Redis stalls (SIGSTOP): timeouts, an open circuit, every fallback; then it comes back', async () => {
  assert.ok(a && b && redis);
  const ra = a;
  const rb = b;
  const server = redis;
  const heldOnA = open(ra, 'chunks=100000&interval=20', 'held-1');
  const localOnA = open(ra, 'chunks=100000&interval=20', 'degraded-local');
  await Promise.all([heldOnA, localOnA].map((s) => s.waitFor((t) => t.includes('word1 '))));
  const c = server.client();
  await until('both streams are registered', async () => (await c.exists('stopline:{held-1}:m:m-held-1', 'stopline:{degraded-local}:m:m-degraded-local')) === 2);

  server.pause();
  try {
    let probe = 0;
    await until('both replicas see Redis as down', async () => {
      let down = 0;
      for (const r of [ra, rb]) {
        if ((await gauge(r, 'stopline_redis_up')) === 0) down++;
        else await cancel(r, { session_id: 'stall-probe', message_id: `p${probe++}` }); // each times out
      }
      return down === 2;
    });

    const held = await cancel(rb, { session_id: 'held-1', message_id: 'm-held-1' });
    assert.deepEqual([held.status, held.json.outcome, held.json.degraded], [202, 'accepted', true]);
    const local = await cancel(ra, { session_id: 'degraded-local', message_id: 'm-degraded-local' });
    assert.deepEqual([local.status, local.json.outcome, local.json.path], [200, 'stopped', 'local']);
    assert.equal((await localOnA.result).complete, true);
    // A resume needs Redis to find the owner, unless it reaches the owner: there it still works.
    const resumedElsewhere = await follow(rb, 'resume-1').result;
    assert.deepEqual([resumedElsewhere.status, resumedElsewhere.headers['retry-after']], [503, '1']);
    const resumedOnOwner = await follow(ra, 'resume-1').result;
    assert.deepEqual([resumedOnOwner.status, resumedOnOwner.complete], [200, true]);
    const whileDown = open(rb, 'chunks=5&interval=0', 'while-down');
    assert.equal((await whileDown.result).complete, true, 'streaming goes on without Redis');
    await until('the fallbacks are counted', async () => {
      const ma = await ra.metrics();
      const mb = await rb.metrics();
      return metric(ma, 'stopline_fallback_activations_total', { reason: 'local_cancel' }) >= 1 &&
        metric(mb, 'stopline_fallback_activations_total', { reason: 'held_cancel' }) >= 1 &&
        metric(mb, 'stopline_fallback_activations_total', { reason: 'local_registration' }) >= 1 &&
        metric(mb, 'stopline_fallback_activations_total', { reason: 'held_finish' }) >= 1;
    });
  } finally {
    server.resume();
  }
  for (const r of [ra, rb]) await until('Redis is up again', async () => (await gauge(r, 'stopline_redis_up')) === 1, 400);
  // The cancel B held while Redis was down is written on recovery: the stream on A stops.
  let ended = false;
  void heldOnA.result.then(() => { ended = true; }, () => { ended = true; });
  await until('the held cancel stops its stream', () => ended, 400);
  assert.match(heldOnA.text, /event: stopline\.cancelled\n/);
});

/** label_values(<selector>, <label>) of a Grafana variable, as a series selector and a label name. */
function labelValues(q: string): { match: string; label: string } | undefined {
  const m = /^label_values\((.*),\s*(\w+)\)$/.exec(q.trim());
  return m ? { match: m[1]!, label: m[2]! } : undefined;
}

type Json = Record<string, any>;
const dashboards = readdirSync(`${root}dashboards`).filter((f) => f.endsWith('.json')).map((f) => ({ file: f, json: JSON.parse(readFileSync(`${root}dashboards/${f}`, 'utf8')) as Json }));

/** A dashboard's variables resolved as Grafana would with namespace "test" and every pod (the variable's All). */
function concrete(dashboard: Json, expr: string): string {
  const vars: Json[] = dashboard.templating?.list ?? [];
  const allOf = (name: string) => String(vars.find((v) => v.name === name)?.allValue ?? '.*');
  const out = expr
    .replaceAll('$namespace', namespace)
    .replaceAll('$pod', allOf('pod'))
    .replaceAll('$job', allOf('job'))
    .replaceAll('$instance', allOf('instance'))
    .replaceAll('$__rate_interval', '1m')
    .replaceAll('$__range', '1h');
  assert.doesNotMatch(out, /\$/, `every variable of ${expr} is substituted`);
  return out;
}

const hasNumber = (result: Sample[]) => result.some((s) => Number.isFinite(Number(s.value[1])));

test('every dashboard variable resolves to the scraped namespace and pods', async () => {
  assert.ok(prometheus);
  for (const { file, json } of dashboards) {
    for (const v of (json.templating?.list ?? []) as Json[]) {
      if (v.type !== 'query') continue;
      const lv = labelValues(String(v.query?.query ?? v.query ?? ''));
      assert.ok(lv, `${file} variable ${v.name}: label_values(...) query`);
      const values = await api<string[]>(prometheus, `label/${lv.label}/values?${new URLSearchParams({ 'match[]': concrete(json, lv.match) })}`);
      const want = lv.label === 'namespace' ? [namespace] : lv.label === 'pod' ? [podA, podB] : [];
      for (const w of want) assert.ok(values.includes(w), `${file} variable ${v.name} offers ${w}: ${JSON.stringify(values)}`);
    }
  }
});

test('every query of every panel of every dashboard returns data', async () => {
  assert.ok(prometheus);
  const p = prometheus;
  const pending = new Map<string, { expr: string; last: string }>();
  for (const { file, json } of dashboards) {
    // The USE row reads cAdvisor and kube-state-metrics (selected by container="stopline"): there is no kubelet
    // here to scrape, so those queries are only parsed (test/ops/dashboard.test.ts), not expected to return data.
    for (const q of queries(json)) if (!q.expr.includes('container="stopline"')) pending.set(`${file} ${q.where}`, { expr: concrete(json, q.expr), last: '' });
  }
  assert.ok(pending.size > 0, 'the dashboards have queries');
  // Until every scrape and rate window the queries need has happened: bounded, each query re-asked until it has a
  // sample with a number (not NaN, which a histogram of zero rates gives).
  for (let round = 0; round < 120 && pending.size > 0; round++) {
    for (const [where, q] of pending) {
      const r = await query(p, q.expr);
      assert.equal(r.status, 'success', `${where}: ${q.expr}: ${r.error ?? ''}`);
      if (hasNumber(r.result)) pending.delete(where);
      else q.last = JSON.stringify(r.result).slice(0, 300);
    }
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 500));
  }
  assert.deepEqual([...pending].map(([where, q]) => `${where}: ${q.expr} -> ${q.last}`), []);
});

test('Redis killed: StoplineRedisDown goes pending, then firing, on both pods', async () => {
  assert.ok(prometheus && redis);
  const p = prometheus;
  type Alert = { labels: Record<string, string>; state: string };
  const redisDownAlerts = async () => (await api<{ alerts: Alert[] }>(p, 'alerts')).alerts.filter((al) => al.labels.alertname === 'StoplineRedisDown');
  // The stall above may have left the alert pending: start from Prometheus seeing Redis up on both pods, no alert.
  await until('Prometheus sees Redis up on both pods and no StoplineRedisDown', async () => {
    const upNow = await query(p, `count(stopline_redis_up{namespace="${namespace}"} == 1)`);
    return upNow.result[0]?.value[1] === '2' && (await redisDownAlerts()).length === 0;
  }, 600, 100);
  await redis.kill();
  const seen = new Map<string, string[]>([[podA, []], [podB, []]]);
  await until('StoplineRedisDown fires on both pods', async () => {
    for (const al of await redisDownAlerts()) {
      assert.equal(al.labels.namespace, namespace);
      assert.equal(al.labels.severity, 'critical');
      const states = seen.get(al.labels.pod ?? '');
      assert.ok(states, `alert for a known pod: ${JSON.stringify(al.labels)}`);
      if (states.at(-1) !== al.state) states.push(al.state);
    }
    return [...seen.values()].every((s) => s.includes('firing'));
  }, 600, 100);
  for (const [pod, states] of seen) assert.deepEqual(states, ['pending', 'firing'], pod);
});
