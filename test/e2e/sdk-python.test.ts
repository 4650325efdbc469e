// The official Python SDKs (openai, anthropic, ollama from PyPI, in the fixture's virtualenv) against the same
// fixture upstream as the Node SDKs, through two stopline replicas on one real Redis, each stop sent to the OTHER
// replica. The bug: after a stop, `chunk.choices[0].delta` raised TypeError, `get_final_response()` raised "Didn't
// receive a response.completed event", ollama's pydantic models rejected the generic line, and the helpers that
// passed did so by dropping the generic event as a malformed chunk. Now each loop and helper ends without an
// exception, with the text so far; a stream without a stop arrives whole; early stops end cleanly and empty.
// Every client runs in one Python process (one thread per job): the SDKs' imports are slow to start.
// Needs the fixture's virtualenv: sh test/fixtures/fastapi_app/setup.sh
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startRedis, type RedisServer } from '../helpers/redis.ts';
import { startReplica, subscribed, type Replica } from '../helpers/stopline.ts';
import { postJson } from '../helpers/client.ts';
import { shortTokens, startSdkUpstream, tokens, type SdkUpstream } from '../fixtures/sdk/upstream.ts';

const python = fileURLToPath(new URL('../fixtures/fastapi_app/.venv/bin/python', import.meta.url));
const script = fileURLToPath(new URL('../fixtures/sdk/clients.py', import.meta.url));

const kinds = [
  'openai chat.completions.create loop', 'openai chat.completions.stream get_final_completion',
  'openai responses.create loop', 'openai responses.stream get_final_response',
  'anthropic messages.create loop', 'anthropic messages.stream get_final_message',
  'ollama chat loop', 'ollama generate loop',
];
const scenarios = ['stop', 'control', 'pending', 'first-byte'] as const;
type Scenario = (typeof scenarios)[number];
interface Result { id: string; text: string; record: unknown; extra: Record<string, unknown>; error: string | null; cancel: string | null }
interface Job { id: string; kind: string; base: string; session: string; message: string; model: string; cancel?: string }

let redis: RedisServer | undefined;
let upstream: SdkUpstream | undefined;
let a: Replica;
let b: Replica;
const results = new Map<string, Result>();
const jobs = new Map<string, Job>();
let hangCancels: { outcome: string }[] = [];

before(async () => {
  redis = await startRedis();
  upstream = await startSdkUpstream();
  const env = { STOPLINE_REDIS_URL: redis.url, STOPLINE_REDIS_TIMEOUT_MS: '1000', STOPLINE_UPSTREAM: upstream.url };
  a = await startReplica({ ...env, STOPLINE_NODE_ID: 'py-a' });
  b = await startReplica({ ...env, STOPLINE_NODE_ID: 'py-b' });
  await subscribed([a, b]);
  const cancelUrl = `${b.url}/stopline/v1/cancel`;
  kinds.forEach((kind, k) => {
    for (const s of scenarios) {
      const id = `py-${k}-${s}`;
      const model = s === 'stop' ? 'long' : s === 'control' ? 'short' : 'hang';
      jobs.set(id, { id, kind, base: a.url, session: `py-${k}`, message: id, model, ...(s === 'stop' ? { cancel: cancelUrl } : {}) });
    }
  });
  // A pending cancel for each `pending` job before its stream starts; a stop for each `first-byte` job once its
  // request reached the upstream (which never answers it).
  for (const j of jobs.values()) {
    if (j.id.endsWith('-pending')) assert.equal((await postJson(cancelUrl, { session_id: j.session, message_id: j.message })).json.outcome, 'pending');
  }
  const p = spawn(python, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => { out += d; });
  p.stderr.on('data', (d: Buffer) => { err += d; });
  const exited = new Promise<number | null>((resolve) => p.on('close', resolve));
  p.stdin.end(JSON.stringify([...jobs.values()]));
  hangCancels = await Promise.all([...jobs.values()].filter((j) => j.id.endsWith('-first-byte')).map(async (j) => {
    await upstream!.arrived(j.message);
    return (await postJson(cancelUrl, { session_id: j.session, message_id: j.message })).json;
  }));
  assert.equal(await exited, 0, err);
  for (const r of JSON.parse(out) as Result[]) results.set(r.id, r);
});

after(async () => {
  await Promise.allSettled([a?.close(), b?.close()]);
  await upstream?.stop();
  await redis?.stop();
});

function got(k: number, s: Scenario): Result {
  const r = results.get(`py-${k}-${s}`);
  assert.ok(r !== undefined, 'the job ran');
  assert.equal(r.error, null, 'the loop and its helper end without an exception');
  return r;
}

const record = (j: Job) => ({ reason: 'cancelled', session_id: j.session, message_id: j.message });

kinds.forEach((kind, k) => {
  test(`python ${kind}: a stop from the other replica ends it cleanly with the text so far`, () => {
    const r = got(k, 'stop');
    assert.equal(r.cancel, 'stopped');
    const n = r.text.trim().split(' ').length;
    assert.ok(n >= 4, r.text.slice(0, 80));
    assert.equal(r.text, tokens(n), 'the text so far, whole and in order');
    if (r.record !== 'not exposed') assert.deepEqual(r.record, record(jobs.get(r.id)!));
    if (kind.includes('get_final_completion')) assert.equal(r.extra.finish_reason, 'stop');
    if (kind.includes('get_final_response')) assert.equal(r.extra.status, 'cancelled');
    if (kind.includes('get_final_message')) assert.equal(r.extra.stop_reason, 'end_turn');
    if (kind.startsWith('ollama')) assert.equal(r.extra.done_reason, 'stop');
  });

  test(`python ${kind}: without a stop the whole answer arrives; early stops end cleanly and empty`, () => {
    assert.equal(got(k, 'control').text, tokens(shortTokens));
    for (const s of ['pending', 'first-byte'] as const) {
      const r = got(k, s);
      assert.equal(r.text, '', s);
      if (r.record !== 'not exposed') assert.deepEqual(r.record, record(jobs.get(r.id)!), s);
    }
  });
});

test('every stop in the first-byte wait was confirmed', () => {
  assert.deepEqual(hangCancels.map((c) => c.outcome), kinds.map(() => 'stopped'));
});
