// The official Node SDKs (openai, @anthropic-ai/sdk, ai, ollama) against a fixture speaking each API's wire format,
// through two stopline replicas on one real Redis, with each stop sent to the OTHER replica. The bug: every stopped
// stream used to end with stopline's generic `event: stopline.cancelled`, which these SDKs parse as one more chunk
// of their own API, so the usual loops threw (`chunk.choices` undefined) and the final-result helpers failed
// (`finalChatCompletion`, `finalResponse`, `finalMessage`, the AI SDK chat's status `error`). Now each stream ends
// in its own dialect: every loop and helper ends cleanly with the text so far and stopline's record, a stream
// without a stop still arrives whole, and streams stopped before their first byte end cleanly too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { DefaultChatTransport, readUIMessageStream, type UIMessage, type UIMessageChunk } from 'ai';
import { Ollama } from 'ollama';
import { metric, type Replica } from '../helpers/stopline.ts';
import { postJson } from '../helpers/client.ts';
import { shortTokens, tokens } from '../fixtures/sdk/upstream.ts';
import { sdkScenario } from '../fixtures/sdk/scenario.ts';
import { TestChat, textOf } from '../fixtures/sdk/chat.ts';

const sc = sdkScenario();

/** What one client run saw: its text, stopline's record where the client exposes it, and anything else to check. */
interface Run { text: string; record: unknown; extra?: Record<string, unknown> }
/** A client run through `base`; `onText` sees the text so far after each piece. */
type Client = (base: string, headers: Record<string, string>, model: string, onText: (text: string) => void) => Promise<Run>;

const messages = [{ role: 'user' as const, content: 'Write a long poem' }];

const clients: Record<string, Client> = {
  async 'openai chat.completions.create loop'(base, headers, model, onText) {
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'sk-test', maxRetries: 0 });
    const stream = await client.chat.completions.create({ model, messages, stream: true }, { headers });
    let text = '';
    let record: unknown;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content || '';
      record ??= (chunk as unknown as { stopline?: unknown }).stopline;
      onText(text);
    }
    return { text, record };
  },
  async 'openai chat.completions.stream finalChatCompletion'(base, headers, model, onText) {
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'sk-test', maxRetries: 0 });
    const stream = client.chat.completions.stream({ model, messages }, { headers });
    stream.on('content', (_d, snapshot) => onText(snapshot));
    const final = await stream.finalChatCompletion();
    return { text: final.choices[0]!.message.content ?? '', record: (final as unknown as { stopline?: unknown }).stopline, extra: { finish_reason: final.choices[0]!.finish_reason } };
  },
  async 'openai responses.create loop'(base, headers, model, onText) {
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'sk-test', maxRetries: 0 });
    const stream = await client.responses.create({ model, input: 'Write a long poem', stream: true }, { headers });
    let text = '';
    let record: unknown;
    for await (const event of stream) {
      if (event.type === 'response.output_text.delta') { text += event.delta; onText(text); }
      if (event.type === 'response.completed') record = (event.response as unknown as { stopline?: unknown }).stopline;
    }
    return { text, record };
  },
  async 'openai responses.stream finalResponse'(base, headers, model, onText) {
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'sk-test', maxRetries: 0 });
    const stream = client.responses.stream({ model, input: 'Write a long poem' }, { headers });
    stream.on('response.output_text.delta', (e) => onText(e.snapshot));
    const final = await stream.finalResponse();
    return { text: final.output_text, record: (final as unknown as { stopline?: unknown }).stopline, extra: { status: final.status } };
  },
  async 'anthropic messages.create loop'(base, headers, model, onText) {
    const client = new Anthropic({ baseURL: base, apiKey: 'sk-ant-test', maxRetries: 0 });
    const stream = await client.messages.create({ model, max_tokens: 1024, messages, stream: true }, { headers });
    let text = '';
    let record: unknown;
    for await (const event of stream) {
      if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') { text += event.delta.text; onText(text); }
      if (event.type === 'message_stop') record = (event as unknown as { stopline?: unknown }).stopline;
    }
    return { text, record };
  },
  async 'anthropic messages.stream finalMessage'(base, headers, model, onText) {
    const client = new Anthropic({ baseURL: base, apiKey: 'sk-ant-test', maxRetries: 0 });
    const stream = client.messages.stream({ model, max_tokens: 1024, messages }, { headers });
    let record: unknown;
    stream.on('text', (_d, snapshot) => onText(snapshot));
    stream.on('streamEvent', (e) => { if (e.type === 'message_stop') record = (e as unknown as { stopline?: unknown }).stopline; });
    const final = await stream.finalMessage();
    const block = final.content[0];
    return { text: block?.type === 'text' ? block.text : '', record, extra: { stop_reason: final.stop_reason } };
  },
  async 'ai DefaultChatTransport readUIMessageStream'(base, headers, model, onText) {
    const transport = new DefaultChatTransport<UIMessage>({ api: `${base}/api/chat`, headers, body: { model } });
    const chunks = await transport.sendMessages({ chatId: 'c1', messageId: undefined, trigger: 'submit-message', abortSignal: undefined, messages: [{ id: 'u1', role: 'user', parts: [{ type: 'text', text: 'Write a long poem' }] }] });
    const [forUi, raw] = chunks.tee();
    const seen: UIMessageChunk[] = [];
    const collected = (async () => { for await (const c of raw) seen.push(c); })();
    let text = '';
    for await (const message of readUIMessageStream({ stream: forUi, terminateOnError: true })) {
      text = message.parts.map((p) => (p.type === 'text' ? p.text : '')).join('');
      onText(text);
    }
    await collected;
    const abort = seen.find((c) => c.type === 'abort') as { stopline?: unknown } | undefined;
    return { text, record: abort?.stopline };
  },
  async 'ai AbstractChat (useChat outside React)'(base, headers, model, onText) {
    let finished: Record<string, unknown> | undefined;
    let errored: Error | undefined;
    const chat = new TestChat({
      transport: new DefaultChatTransport<UIMessage>({ api: `${base}/api/chat`, headers, body: { model } }),
      onFinish: ({ isAbort, isError, isDisconnect }) => { finished = { isAbort, isError, isDisconnect }; },
      onError: (e) => { errored = e; },
    }, onText);
    await chat.sendMessage({ text: 'Write a long poem' });
    assert.equal(errored, undefined, `the chat reported an error: ${errored?.message}`);
    const last = chat.messages.at(-1);
    const text = last?.role === 'assistant' ? textOf(last) : '';
    return { text, record: 'not exposed', extra: { status: chat.status, ...finished } };
  },
  async 'ollama chat loop'(base, headers, model, onText) {
    const client = new Ollama({ host: base, headers });
    let text = '';
    let record: unknown;
    for await (const part of await client.chat({ model, messages, stream: true })) {
      text += part.message.content;
      if (part.done) record = (part as unknown as { stopline?: unknown }).stopline;
      onText(text);
    }
    return { text, record };
  },
  async 'ollama generate loop'(base, headers, model, onText) {
    const client = new Ollama({ host: base, headers });
    let text = '';
    let record: unknown;
    for await (const part of await client.generate({ model, prompt: 'Write a long poem', stream: true })) {
      text += part.response;
      if (part.done) record = (part as unknown as { stopline?: unknown }).stopline;
      onText(text);
    }
    return { text, record };
  },
};

let seq = 0;
const ids = (kind: string) => { seq++; return { session: `sdk-${seq}`, message: `${kind.replace(/[^A-Za-z0-9]+/g, '-').slice(0, 60)}-${seq}` }; };
const cancel = (r: Replica, session: string, message: string) => postJson(`${r.url}/stopline/v1/cancel`, { session_id: session, message_id: message });

/** The text is whole tokens from the start (`tok0 tok1 ... tokK `), at least `least` of them. */
function assertTokens(text: string, least: number): void {
  const n = text === '' ? 0 : text.trim().split(' ').length;
  assert.ok(n >= least, `at least ${least} tokens, got ${JSON.stringify(text.slice(0, 80))}`);
  assert.equal(text, tokens(n), 'the text so far, whole and in order');
}

for (const [kind, run] of Object.entries(clients)) {
  test(`${kind}: a stop from the other replica ends it cleanly with the text so far`, async () => {
    const { session, message } = ids(kind);
    let stopping: Promise<{ status: number; json: any }> | undefined;
    const got = await run(sc.a.url, { 'x-session-id': session, 'x-message-id': message }, 'long', (text) => {
      if (stopping === undefined && text.includes('tok3 ')) stopping = cancel(sc.b, session, message);
    });
    assert.ok(stopping !== undefined, 'the stream got far enough to be stopped');
    assert.equal((await stopping).json.outcome, 'stopped');
    assertTokens(got.text, 4);
    if (got.record !== 'not exposed') assert.deepEqual(got.record, { reason: 'cancelled', session_id: session, message_id: message });
    if (kind.includes('AbstractChat')) assert.deepEqual(got.extra, { status: 'ready', isAbort: false, isError: false, isDisconnect: false });
    if (kind.includes('finalChatCompletion')) assert.equal(got.extra?.finish_reason, 'stop');
    if (kind.includes('finalResponse')) assert.equal(got.extra?.status, 'cancelled');
    if (kind.includes('finalMessage')) assert.equal(got.extra?.stop_reason, 'end_turn');
    await sc.upstream.aborted(message);
  });

  test(`${kind}: without a stop the whole answer arrives, byte for byte`, async () => {
    const { session, message } = ids(kind);
    const got = await run(sc.a.url, { 'x-session-id': session, 'x-message-id': message }, 'short', () => {});
    assert.equal(got.text, tokens(shortTokens));
    if (got.record !== 'not exposed') assert.equal(got.record, undefined);
  });

  test(`${kind}: a pending cancel and a stop in the first-byte wait end it cleanly, empty`, async () => {
    const pending = ids(kind);
    assert.equal((await cancel(sc.b, pending.session, pending.message)).json.outcome, 'pending');
    // "hang": the upstream never answers, so the stop (which the registration's Redis reply brings, while the request
    // is already on its way upstream) always comes before the first byte.
    const early = await run(sc.a.url, { 'x-session-id': pending.session, 'x-message-id': pending.message }, 'hang', () => {});
    assert.equal(early.text, '');
    if (early.record !== 'not exposed') assert.deepEqual(early.record, { reason: 'cancelled', session_id: pending.session, message_id: pending.message });

    const waiting = ids(kind);
    const headers = { 'x-session-id': waiting.session, 'x-message-id': waiting.message };
    const running = run(sc.a.url, headers, 'hang', () => {});
    await sc.upstream.arrived(waiting.message);
    assert.equal((await cancel(sc.b, waiting.session, waiting.message)).json.outcome, 'stopped');
    const got = await running;
    assert.equal(got.text, '');
    if (got.record !== 'not exposed') assert.deepEqual(got.record, { reason: 'cancelled', session_id: waiting.session, message_id: waiting.message });
  });
}

test('stopline_streams_total counts the streams by dialect', async () => {
  const m = await sc.a.metrics();
  for (const dialect of ['openai-chat', 'openai-responses', 'anthropic', 'ai-sdk', 'ollama']) {
    assert.ok(metric(m, 'stopline_streams_total', { outcome: 'cancelled', dialect }) >= 2, dialect);
    assert.ok(metric(m, 'stopline_streams_total', { outcome: 'completed', dialect }) >= 1, dialect);
  }
});

test('a drain past its deadline ends a live stream in its dialect too, with reason "shutdown" (runs last: it shuts a replica)', async () => {
  const { session, message } = ids('drain');
  let draining: Promise<void> | undefined;
  const got = await clients['openai responses.stream finalResponse']!(sc.b.url, { 'x-session-id': session, 'x-message-id': message }, 'long', (text) => {
    if (draining === undefined && text.includes('tok3 ')) draining = sc.b.app.drain();
  });
  await draining;
  assertTokens(got.text, 4);
  assert.deepEqual(got.record, { reason: 'shutdown', session_id: session, message_id: message });
  assert.equal(got.extra?.status, 'cancelled');
});
