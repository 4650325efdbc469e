// The AI SDK's own resume, as `useChat({ resume: true })` runs it: a page reloads in the middle of an answer (its
// fetch goes away), and the new page's chat, with the same id, calls `resumeStream()`, which is the
// DefaultChatTransport's `GET {api}/{chat id}/stream` expecting the active stream from its start (it rebuilds the
// message from the replay) or 204. The reload lands on the other replica: the chat must end `ready` with the whole
// answer, byte for byte what the upstream generated, and the generation must have run once, never aborted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DefaultChatTransport, type UIMessage } from 'ai';
import { metric, type Replica } from '../helpers/stopline.ts';
import { until } from '../helpers/net.ts';
import { slowTokens, tokens } from '../fixtures/sdk/upstream.ts';
import { sdkScenario } from '../fixtures/sdk/scenario.ts';
import { TestChat, textOf } from '../fixtures/sdk/chat.ts';

const sc = sdkScenario({
  // As the README says to set it up for useChat: the chat id is the session id.
  STOPLINE_SESSION_ID_FROM: 'json:id,header:x-session-id',
  STOPLINE_RESUME_ROUTES: 'POST /api/chat',
  STOPLINE_RESUME_ACTIVE_ROUTE: 'GET /api/chat/:id/stream',
}, true);

const transport = (r: Replica) => new DefaultChatTransport<UIMessage>({ api: `${r.url}/api/chat`, body: { model: 'slow' } });

test('AbstractChat reloaded mid-answer resumes through the other replica and ends ready with the whole answer', async () => {
  const { a, b } = sc;
  const id = 'chat-resume-1';
  let reached: () => void;
  const midAnswer = new Promise<void>((r) => { reached = r; });
  const first = new TestChat({ id, transport: transport(a) }, (text) => { if (text.includes('tok5 ')) reached(); });
  const sending = first.sendMessage({ text: 'Write a long poem' });
  await midAnswer;
  const had = textOf(first.messages.at(-1));
  await first.stop(); // the reload: the page's fetch goes away mid-answer
  await sending;
  assert.ok(had.length < tokens(slowTokens).length, 'the reload came before the answer was over');

  // The reloaded page: its chat has the stored conversation (the user's message) and resumes.
  let errored: Error | undefined;
  let finished: Record<string, boolean> | undefined;
  const again = new TestChat({
    id, transport: transport(b), messages: [first.messages[0]!],
    onError: (e) => { errored = e; },
    onFinish: ({ isAbort, isError, isDisconnect }) => { finished = { isAbort, isError, isDisconnect }; },
  }, () => {});
  await again.resumeStream();
  assert.equal(errored, undefined, `the resumed chat reported an error: ${errored?.message}`);
  assert.equal(again.status, 'ready');
  assert.deepEqual(finished, { isAbort: false, isError: false, isDisconnect: false });
  assert.deepEqual(again.messages.map((m) => m.role), ['user', 'assistant']);
  assert.equal(textOf(again.messages[1]), tokens(slowTokens), 'the whole answer, byte for byte, each token once');

  const ma = await a.metrics();
  assert.equal(metric(ma, 'stopline_detached_streams_total', { end: 'completed' }), 1, 'the generation ran on to its end');
  assert.equal(metric(ma, 'stopline_streams_total', { outcome: 'client_disconnected' }), 0);
  // A resume is counted once its response has closed, which can come just after the client read its end.
  await until('the resume counted', async () => metric(await b.metrics(), 'stopline_resumes_total', { outcome: 'whole', path: 'peer' }) === 1);

  // Once the stream is over, a reload has nothing to resume: the transport gets 204 (null), so the chat stays ready.
  assert.equal(await transport(b).reconnectToStream({ chatId: id }), null);
});
