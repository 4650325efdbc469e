import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig, routeMatches } from '../../src/config.ts';

test('defaults follow the contract', () => {
  const c = loadConfig({ HOSTNAME: 'pod-a' });
  assert.deepEqual(c.listen, { host: '0.0.0.0', port: 8080 });
  assert.deepEqual(c.adminListen, { host: '0.0.0.0', port: 9464 });
  assert.equal(c.upstream.origin, 'http://127.0.0.1:8000');
  assert.equal(c.redis.mode, 'memory');
  assert.equal(c.prefix, 'stopline:');
  assert.equal(c.nodeId, 'pod-a');
  assert.equal(c.cancelMode, 'push');
  assert.equal(c.pollIntervalMs, 1000);
  assert.equal(c.redisTimeoutMs, 50);
  assert.equal(c.cancelWaitMs, 2000);
  assert.equal(c.streamTtlS, 300);
  assert.equal(c.drainTimeoutS, 30);
  assert.deepEqual(c.sessionIdFrom.map((s) => `${s.kind}:${s.name}`), ['header:x-session-id', 'json:session_id', 'query:session_id']);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.streamRoutes));
});

test('POD_NAME names the node before the hostname', () => {
  assert.equal(loadConfig({ POD_NAME: 'p1', HOSTNAME: 'h' }).nodeId, 'p1');
  assert.equal(loadConfig({ STOPLINE_NODE_ID: 'n1', POD_NAME: 'p1' }).nodeId, 'n1');
});

test('every bad variable is reported at once, one line each, naming variable, value and what is allowed', () => {
  try {
    loadConfig({ STOPLINE_CANCEL_MODE: 'sometimes', STOPLINE_POLL_INTERVAL_MS: 'fast', STOPLINE_LISTEN: 'nowhere', STOPLINE_UPSTREAM: 'ftp://x' });
    assert.fail('expected a ConfigError');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.problems.length, 4);
    assert.match(err.problems.join('\n'), /STOPLINE_CANCEL_MODE="sometimes": expected push, poll or per-chunk/);
    assert.match(err.problems.join('\n'), /STOPLINE_POLL_INTERVAL_MS="fast": expected a whole number/);
    assert.match(err.problems.join('\n'), /STOPLINE_LISTEN="nowhere": expected host:port/);
    assert.match(err.problems.join('\n'), /STOPLINE_UPSTREAM="ftp:\/\/x"/);
  }
});

test('Redis modes are exclusive, and credentials never appear in errors', () => {
  assert.throws(() => loadConfig({ STOPLINE_REDIS_URL: 'redis://a:1', STOPLINE_REDIS_CLUSTER_NODES: 'a:1' }), /set only one of/);
  assert.throws(() => loadConfig({ STOPLINE_REDIS_URL: 'http://user:secret@x' }), (e: Error) => !e.message.includes('secret') && /STOPLINE_REDIS_URL/.test(e.message));
  const s = loadConfig({ STOPLINE_REDIS_SENTINELS: 'a:26379,b:26379', STOPLINE_REDIS_SENTINEL_NAME: 'mymaster' });
  assert.equal(s.redis.mode, 'sentinel');
  assert.throws(() => loadConfig({ STOPLINE_REDIS_SENTINELS: 'a:26379' }), /STOPLINE_REDIS_SENTINEL_NAME/);
  const c = loadConfig({ STOPLINE_REDIS_CLUSTER_NODES: '127.0.0.1:7000, 127.0.0.1:7001' });
  assert.equal(c.redis.mode === 'cluster' && c.redis.nodes.length, 2);
});

test('routes: exact paths, prefixes and *', () => {
  const c = loadConfig({ STOPLINE_STREAM_ROUTES: 'POST /api/chat/stream,POST /v1/chat/completions,GET /events/*', STOPLINE_CANCEL_ROUTES: 'POST /api/chat/cancel' });
  assert.equal(routeMatches(c.streamRoutes, 'POST', '/api/chat/stream'), true);
  assert.equal(routeMatches(c.streamRoutes, 'GET', '/api/chat/stream'), false);
  assert.equal(routeMatches(c.streamRoutes, 'GET', '/events/abc'), true);
  assert.equal(routeMatches(c.cancelRoutes, 'POST', '/api/chat/cancel'), true);
  assert.equal(routeMatches(loadConfig({}).streamRoutes, 'DELETE', '/anything'), true);
  assert.throws(() => loadConfig({ STOPLINE_STREAM_ROUTES: 'chat' }), /"chat" is not "METHOD \/path"/);
  assert.throws(() => loadConfig({ STOPLINE_CANCEL_ROUTES: 'POST /stopline/x' }), /reserved/);
});

test('id sources, including nested JSON fields', () => {
  const c = loadConfig({ STOPLINE_SESSION_ID_FROM: 'json:metadata.session_id,json:user' });
  assert.deepEqual(c.sessionIdFrom[0]!.path, ['metadata', 'session_id']);
  assert.throws(() => loadConfig({ STOPLINE_MESSAGE_ID_FROM: 'cookie:x' }), /STOPLINE_MESSAGE_ID_FROM/);
});

test('the key prefix cannot hold hash-tag braces', () => {
  assert.throws(() => loadConfig({ STOPLINE_REDIS_PREFIX: 'a{b}' }), /STOPLINE_REDIS_PREFIX/);
});

test('STOPLINE_REDIS_TLS takes the usual boolean spellings and refuses anything else in one clear line', () => {
  const sentinel = { STOPLINE_REDIS_SENTINELS: 's1:26379', STOPLINE_REDIS_SENTINEL_NAME: 'mymaster' };
  const tls = (v: string) => (loadConfig({ ...sentinel, STOPLINE_REDIS_TLS: v }).redis as { tls: boolean }).tls;
  for (const v of ['true', 'yes', 'YES', 'on', '1']) assert.equal(tls(v), true, v);
  for (const v of ['false', 'no', 'off', '0']) assert.equal(tls(v), false, v);
  assert.throws(() => loadConfig({ ...sentinel, STOPLINE_REDIS_TLS: 'enabled' }), (e: unknown) => e instanceof ConfigError &&
    /^Invalid STOPLINE_REDIS_TLS="enabled": expected true or false/m.test(e.message));
});


test('a poll interval longer than an eighth of the stream TTL is refused at start, naming both', () => {
  assert.equal(loadConfig({ STOPLINE_STREAM_TTL_S: '8', STOPLINE_POLL_INTERVAL_MS: '1000' }).pollIntervalMs, 1000);
  assert.equal(loadConfig({ STOPLINE_STREAM_TTL_S: '28800', STOPLINE_POLL_INTERVAL_MS: '3600000' }).pollIntervalMs, 3_600_000);
  assert.equal(loadConfig({ STOPLINE_POLL_INTERVAL_MS: '37500' }).streamTtlS, 300);
  const refused = (env: Record<string, string>, line: RegExp) => assert.throws(() => loadConfig(env), (e: unknown) => e instanceof ConfigError &&
    e.problems.length === 1 && line.test(e.problems[0]!));
  refused({ STOPLINE_STREAM_TTL_S: '8', STOPLINE_POLL_INTERVAL_MS: '1001' },
    /^Invalid STOPLINE_POLL_INTERVAL_MS="1001" with STOPLINE_STREAM_TTL_S="8": expected a poll interval of at most an eighth of the stream TTL \(at most 1000 ms with this TTL, or a TTL of at least 9 s with this interval\)/);
  // The defaults count as given: a TTL alone can be too short for the default 1 s poll, and an interval for the 300 s TTL.
  refused({ STOPLINE_STREAM_TTL_S: '5' }, /^Invalid STOPLINE_POLL_INTERVAL_MS="1000" with STOPLINE_STREAM_TTL_S="5": .*at most 625 ms/);
  refused({ STOPLINE_POLL_INTERVAL_MS: '37501' }, /STOPLINE_STREAM_TTL_S="300": .*or a TTL of at least 301 s/);
  // A value that is itself invalid is reported alone, not again as a mismatch.
  refused({ STOPLINE_STREAM_TTL_S: '4', STOPLINE_POLL_INTERVAL_MS: '3600000' }, /^Invalid STOPLINE_STREAM_TTL_S="4": expected a whole number from 5/);
});

test('STOPLINE_MAX_STREAMS stops at what has been measured to work (50,000 streams per replica)', () => {
  assert.equal(loadConfig({ STOPLINE_MAX_STREAMS: '50000' }).maxStreams, 50_000);
  assert.throws(() => loadConfig({ STOPLINE_MAX_STREAMS: '50001' }), /Invalid STOPLINE_MAX_STREAMS="50001": expected a whole number from 1 to 50000/);
});

test('resume is off unless its routes are set; its bounds and routes are checked at start', () => {
  assert.equal(loadConfig({}).resume, null);
  const c = loadConfig({ STOPLINE_RESUME_ROUTES: 'POST /api/chat', STOPLINE_RESUME_ACTIVE_ROUTE: 'GET /api/chat/:id/stream' });
  assert.deepEqual(c.resume!.activeRoute, { before: '/api/chat/', after: '/stream' });
  assert.equal(c.resume!.detachMs, 30_000);
  assert.throws(() => loadConfig({ STOPLINE_RESUME_ROUTES: 'POST /api/chat', STOPLINE_RESUME_STREAM_BYTES: '2048', STOPLINE_RESUME_REPLICA_BYTES: '1024' }),
    /Invalid STOPLINE_RESUME_REPLICA_BYTES="1024": expected at least STOPLINE_RESUME_STREAM_BYTES \(2048\)/);
  assert.throws(() => loadConfig({ STOPLINE_RESUME_ROUTES: 'POST /api/chat', STOPLINE_RESUME_DETACH_MS: 'soon' }), /Invalid STOPLINE_RESUME_DETACH_MS="soon"/);
  assert.throws(() => loadConfig({ STOPLINE_RESUME_ROUTES: 'POST /api/chat', STOPLINE_RESUME_ACTIVE_ROUTE: 'POST /x/:id' }), /Invalid STOPLINE_RESUME_ACTIVE_ROUTE="POST \/x\/:id"/);
  assert.throws(() => loadConfig({ STOPLINE_RESUME_ACTIVE_ROUTE: 'GET /x/:id' }), /needs STOPLINE_RESUME_ROUTES/);
});
