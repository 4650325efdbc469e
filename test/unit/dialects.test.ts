// How a stream's dialect is told (from the response head and its first event only, never a wrong dialect's), what
// a request implies for a stop before its first byte, and each dialect's ending, here for a drain past its deadline
// (reason "shutdown"): the end-to-end SDK tests cover the same endings for a cancel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, forcedDialect, loadConfig } from '../../src/config.ts';
import type { DialectName, RequestShape, StopRecord } from '../../src/relay/dialects/dialect.ts';
import { noShape, requestShape } from '../../src/relay/dialects/detect.ts';
import { StreamEnding } from '../../src/relay/dialects/ending.ts';
import type { FramingKind } from '../../src/relay/framing.ts';
import { ndjsonEvents, sseEvents } from '../../src/relay/dialects/wire.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const record: StopRecord = { reason: 'shutdown', session_id: 's1', message_id: 'm1' };

/** A stream that wrote `pieces` (each as the relay hands them over) and was then stopped. */
function stream(framing: FramingKind, pieces: string[], opts: { headers?: Record<string, string>; request?: RequestShape; forced?: DialectName } = {}): StreamEnding {
  const e = new StreamEnding(opts.request ?? noShape, opts.forced ?? null);
  e.started(framing, opts.headers ?? {});
  for (const p of pieces) if (e.watching) e.see(bytes(p));
  return e;
}

const chatChunk = (content: string, index = 0) => `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 7, model: 'gpt-x', system_fingerprint: 'fp1', choices: [{ index, delta: { content }, logprobs: null, finish_reason: null }] })}\n\n`;
const sse = (event: string, data: object) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
const created = sse('response.created', { type: 'response.created', sequence_number: 0, response: { id: 'resp_1', object: 'response', status: 'in_progress', model: 'gpt-x', output: [] } });
const messageStart = sse('message_start', { type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude-x', content: [], usage: { input_tokens: 3, output_tokens: 1 } } });
const ollamaLine = (o: object) => `${JSON.stringify({ model: 'llama3', created_at: '2026-01-01T00:00:00Z', done: false, ...o })}\n`;

test('detection: each dialect from its first event, the AI SDK from its header, anything else generic', () => {
  assert.equal(stream('sse', [chatChunk('hi')]).name, 'openai-chat');
  assert.equal(stream('sse', ['data: {"choices":[],"created":0,"id":"","model":"","object":"","prompt_filter_results":[{"prompt_index":0}]}\n\n']).name, 'openai-chat', "Azure's first event");
  assert.equal(stream('sse', [created]).name, 'openai-responses');
  assert.equal(stream('sse', [messageStart]).name, 'anthropic');
  assert.equal(stream('sse', [], { headers: { 'x-vercel-ai-ui-message-stream': 'v1' } }).name, 'ai-sdk');
  assert.equal(stream('ndjson', [ollamaLine({ message: { role: 'assistant', content: 'a' } })]).name, 'ollama');
  assert.equal(stream('ndjson', [ollamaLine({ response: 'a' })]).name, 'ollama');
  assert.equal(stream('sse', ['event: token\ndata: {"text":"a"}\n\n']).name, 'sse');
  assert.equal(stream('sse', ['data: {"type":"text-delta","delta":"a"}\n\n']).name, 'sse', 'AI SDK chunks without its header are not told');
  assert.equal(stream('ndjson', ['{"token":"a"}\n']).name, 'ndjson');
  assert.equal(stream('ndjson', ['{"model":"m","done":true}\n']).name, 'ndjson', 'a finished line is no first line of a stream');
  assert.equal(stream('none', ['hello']).name, 'none');
});

test('detection needs the first whole event with data: split, after comments, or given up after a few writes', () => {
  const chunk = chatChunk('x');
  const split = stream('sse', [chunk.slice(0, 20), chunk.slice(20)]);
  assert.equal(split.name, 'openai-chat');
  assert.equal(split.watching, false, 'after the first event the hot path hands it nothing more');
  assert.equal(stream('sse', [': keep-alive\n\n', chatChunk('x')]).name, 'openai-chat');
  const silent = stream('sse', Array.from({ length: 8 }, () => ': ping\n\n'));
  assert.equal(silent.name, 'sse');
  assert.equal(silent.watching, false);
  assert.equal(stream('sse', [created]).watching, true, 'the Responses ending keeps every event');
  assert.equal(stream('sse', [messageStart]).watching, true, 'the Anthropic ending keeps the last piece');
  assert.equal(stream('ndjson', [ollamaLine({ response: 'a' })]).watching, false);
  assert.equal(stream('sse', [], { headers: { 'x-vercel-ai-ui-message-stream': 'v1' } }).watching, false, 'told by its head: never watched');
  assert.equal(stream('sse', [chatChunk('x')], { forced: 'anthropic' }).name, 'anthropic', 'a forced dialect is not detected');
  const forced = sseEvents(text(stream('sse', [chatChunk('x')], { forced: 'openai-chat' }).ending(record)))[0]!.data as { id: string };
  assert.equal(forced.id, 'chatcmpl-1', "a forced dialect still ends with the upstream's ids");
});

test('what a request implies, for a stop before its first byte', () => {
  assert.equal(requestShape('/v1/chat/completions', { model: 'm', stream: true, n: 3 }).dialect, 'openai-chat');
  assert.equal(requestShape('/v1/chat/completions', { model: 'm', stream: true, n: 3 }).choices, 3);
  assert.equal(requestShape('/v1/chat/completions', { model: 'm' }).dialect, null, 'no stream asked for');
  assert.equal(requestShape('/v1/responses', { model: 'm', stream: true }).dialect, 'openai-responses');
  assert.equal(requestShape('/v1/messages', { model: 'm', stream: true }).dialect, 'anthropic');
  assert.equal(requestShape('/api/chat', { model: 'm', messages: [] }).dialect, 'ollama', "Ollama's default is to stream");
  assert.equal(requestShape('/api/chat', { model: 'm', stream: false }).dialect, null);
  assert.equal(requestShape('/api/generate', { model: 'm', prompt: 'p' }).generate, true);
  assert.equal(requestShape('/api/chat', { id: 'c', messages: [], trigger: 'submit-message' }).dialect, 'ai-sdk');
  assert.equal(requestShape('/anything', { session_id: 's' }).dialect, null);
  assert.equal(requestShape('/v1/chat/completions', undefined).dialect, null, 'a body that was not read implies nothing');
});

test('openai-chat ending: a closing chunk per choice with the upstream ids, then [DONE]', () => {
  const e = stream('sse', [chatChunk('a') + chatChunk('b', 1)], { request: { ...noShape, choices: 1 } });
  const out = text(e.ending(record));
  const events = sseEvents(out);
  assert.equal(events.at(-1)!.data, '[DONE]');
  assert.deepEqual(events.slice(0, -1).map((ev) => ev.data), [0, 1].map((index) => ({
    id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 7, model: 'gpt-x', system_fingerprint: 'fp1',
    choices: [{ index, delta: {}, logprobs: null, finish_reason: 'stop' }], stopline: record,
  })));
  assert.equal(sseEvents(text(stream('sse', [chatChunk('a')], { request: { ...noShape, choices: 3 } }).ending(record))).length, 4, 'n from the request');
});

test('openai-responses ending: the open item closed with its text so far, then response.completed, cancelled', () => {
  const ids = { item_id: 'msg_1', output_index: 0, content_index: 0 };
  const e = stream('sse', [
    created,
    sse('response.output_item.added', { type: 'response.output_item.added', sequence_number: 1, output_index: 0, item: { id: 'msg_1', type: 'message', status: 'in_progress', role: 'assistant', content: [] } }),
    sse('response.content_part.added', { type: 'response.content_part.added', sequence_number: 2, ...ids, part: { type: 'output_text', text: '', annotations: [] } }),
    sse('response.output_text.delta', { type: 'response.output_text.delta', sequence_number: 3, ...ids, delta: 'Hel' }) +
      sse('response.output_text.delta', { type: 'response.output_text.delta', sequence_number: 4, ...ids, delta: 'lo' }),
  ]);
  const events = sseEvents(text(e.ending(record)));
  assert.deepEqual(events.map((ev) => [ev.event, (ev.data as { sequence_number: number }).sequence_number]), [
    ['response.output_text.done', 5], ['response.content_part.done', 6], ['response.output_item.done', 7], ['response.completed', 8],
  ]);
  assert.equal((events[0]!.data as { text: string }).text, 'Hello');
  const item = { id: 'msg_1', type: 'message', status: 'incomplete', role: 'assistant', content: [{ type: 'output_text', text: 'Hello', annotations: [] }] };
  assert.deepEqual((events[2]!.data as { item: unknown }).item, item);
  assert.deepEqual((events[3]!.data as { response: unknown }).response, { id: 'resp_1', object: 'response', status: 'cancelled', model: 'gpt-x', output: [item], stopline: record });
});

test('openai-responses ending: an open function call closed with its arguments so far; finished items left as they are', () => {
  const done = { id: 'msg_0', type: 'message', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Hi', annotations: [] }] };
  const e = stream('sse', [
    created,
    sse('response.output_item.done', { type: 'response.output_item.done', sequence_number: 1, output_index: 0, item: done }),
    sse('response.output_item.added', { type: 'response.output_item.added', sequence_number: 2, output_index: 1, item: { id: 'fc_1', type: 'function_call', status: 'in_progress', call_id: 'c1', name: 'f', arguments: '' } }),
    sse('response.function_call_arguments.delta', { type: 'response.function_call_arguments.delta', sequence_number: 3, item_id: 'fc_1', output_index: 1, delta: '{"a":' }),
  ]);
  const events = sseEvents(text(e.ending(record)));
  assert.deepEqual(events.map((ev) => ev.event), ['response.function_call_arguments.done', 'response.output_item.done', 'response.completed']);
  assert.deepEqual(events[0]!.data, { type: 'response.function_call_arguments.done', sequence_number: 4, item_id: 'fc_1', output_index: 1, arguments: '{"a":' });
  const output = (events[2]!.data as { response: { output: unknown[] } }).response.output;
  assert.deepEqual(output, [done, { id: 'fc_1', type: 'function_call', status: 'incomplete', call_id: 'c1', name: 'f', arguments: '{"a":' }]);
});

test('anthropic ending: the open block stopped, message_delta, message_stop with the record; nothing after message_stop', () => {
  const delta = sse('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'x' } });
  const events = sseEvents(text(stream('sse', [messageStart, delta]).ending(record)));
  assert.deepEqual(events.map((ev) => ev.data), [
    { type: 'content_block_stop', index: 1 },
    { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 1 } },
    { type: 'message_stop', stopline: record },
  ]);
  const closed = sse('content_block_stop', { type: 'content_block_stop', index: 1 });
  assert.equal(sseEvents(text(stream('sse', [messageStart, closed]).ending(record)))[0]!.event, 'message_delta', 'no block open');
  assert.equal(text(stream('sse', [messageStart, sse('message_stop', { type: 'message_stop' })]).ending(record)), '');
});

test('ai-sdk, ollama and the generic endings', () => {
  const ai = stream('sse', ['data: {"type":"start"}\n\n'], { headers: { 'x-vercel-ai-ui-message-stream': 'v1' } });
  assert.equal(text(ai.ending(record)), `data: ${JSON.stringify({ type: 'abort', reason: 'stopline: shutdown', stopline: record })}\n\ndata: [DONE]\n\n`);
  const chat = ndjsonEvents(text(stream('ndjson', [ollamaLine({ message: { role: 'assistant', content: 'a' } })]).ending(record)))[0]!.data as Record<string, unknown>;
  assert.deepEqual({ ...chat, created_at: 'x' }, { model: 'llama3', created_at: 'x', message: { role: 'assistant', content: '' }, done: true, done_reason: 'stop', stopline: record });
  const gen = ndjsonEvents(text(stream('ndjson', [ollamaLine({ response: 'a' })]).ending(record)))[0]!.data as Record<string, unknown>;
  assert.equal(gen.response, '');
  assert.equal(text(stream('sse', ['event: token\ndata: 1\n\n']).ending(record)), 'event: stopline.cancelled\ndata: {"session_id":"s1","message_id":"m1","reason":"shutdown"}\n\n');
  assert.equal(text(stream('ndjson', ['{"t":1}\n']).ending(record)), '{"stopline":"cancelled","session_id":"s1","message_id":"m1","reason":"shutdown"}\n');
  assert.equal(stream('none', ['x']).ending(record).length, 0);
});

test('a stop before the first byte: a whole stream of the dialect the request implies', () => {
  const early = (request: RequestShape) => new StreamEnding(request, null).early(record, undefined);
  const chat = early(requestShape('/v1/chat/completions', { model: 'gpt-x', stream: true }));
  assert.match(chat.headers['content-type']!, /^text\/event-stream/);
  const chunk = sseEvents(text(chat.body))[0]!.data as { model: string; choices: unknown[] };
  assert.equal(chunk.model, 'gpt-x');
  assert.deepEqual(chunk.choices, [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: 'stop' }]);
  assert.deepEqual(sseEvents(text(early(requestShape('/v1/messages', { model: 'c', stream: true })).body)).map((e) => e.event), ['message_start', 'message_delta', 'message_stop']);
  assert.deepEqual(sseEvents(text(early(requestShape('/v1/responses', { model: 'g', stream: true })).body)).map((e) => e.event), ['response.created', 'response.completed']);
  assert.equal(early(requestShape('/api/chat', { id: 'c', messages: [], trigger: 'submit-message' })).headers['x-vercel-ai-ui-message-stream'], 'v1');
  assert.equal(early(requestShape('/api/chat', { model: 'l' })).headers['content-type'], 'application/x-ndjson');
  const plain = new StreamEnding(noShape, null);
  assert.equal(text(plain.early(record, 'application/x-ndjson').body), '{"stopline":"cancelled","session_id":"s1","message_id":"m1","reason":"shutdown"}\n');
  assert.equal(plain.name, 'ndjson');
});

test('STOPLINE_DIALECT_ROUTES forces a dialect per route; a bad value is one clear line', () => {
  const c = loadConfig({ STOPLINE_DIALECT_ROUTES: 'POST /v1/chat/completions=openai-chat, POST /api/*=auto, *=sse' });
  assert.equal(forcedDialect(c.dialectRoutes, 'POST', '/v1/chat/completions'), 'openai-chat');
  assert.equal(forcedDialect(c.dialectRoutes, 'POST', '/api/chat'), null, 'auto: told from the response');
  assert.equal(forcedDialect(c.dialectRoutes, 'GET', '/events'), 'sse');
  assert.equal(forcedDialect(loadConfig({}).dialectRoutes, 'POST', '/v1/chat/completions'), null, 'auto by default');
  assert.throws(() => loadConfig({ STOPLINE_DIALECT_ROUTES: 'POST /v1/messages=claude' }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.problems.length, 1);
    assert.match(err.problems[0]!, /^Invalid STOPLINE_DIALECT_ROUTES="POST \/v1\/messages=claude": .*auto, openai-chat, openai-responses, anthropic, ai-sdk, ollama, sse, ndjson, none/);
    return true;
  });
});
