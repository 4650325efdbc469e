// A real browser: headless Chromium (Debian's package) driven by playwright-core opens a chat page through stopline
// replica A (stopline proxies the page too, from the same service that streams the answers) and streams with
// EventSource (GET, the session id in the query) and with fetch and a reader (POST, ids in the JSON body). A cancel
// sent to replica B makes the page show the terminal event and stop; closing the tab stops the service's stream.
// Needs Debian's chromium (apt-get install -y chromium).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { browserScenario } from '../fixtures/browser/scenario.ts';
import { metric } from '../helpers/stopline.ts';
import { postJson } from '../helpers/client.ts';

const waitMs = 20_000; // a bound on each wait for the page, never a pace

const sc = browserScenario('GET /api/chat/events,POST /api/chat/stream');
const pageErrors: string[] = [];

interface PageStream {
  kind: 'eventsource' | 'fetch';
  tokens: string[];
  terminal: { session_id: string; message_id: string; reason: string } | null;
  done: boolean;
  ended: boolean;
  errors: number;
  readyState: number | null;
}

async function openPage(): Promise<Page> {
  const page = await sc.browser.newPage();
  page.on('pageerror', (err) => pageErrors.push(err.message));
  const res = await page.goto(`${sc.a.url}/page.html`);
  assert.equal(res?.status(), 200, 'the page, proxied by stopline');
  return page;
}

const streamOf = async (page: Page, id: string): Promise<PageStream> => await page.evaluate(`window.streams[${JSON.stringify(id)}]`) as PageStream;
const waitIn = (page: Page, condition: string) => page.waitForFunction(condition, undefined, { timeout: waitMs });
const start = (page: Page, fn: 'startEventSource' | 'startFetch', session: string, message: string, tokens: number, intervalMs: number) =>
  page.evaluate(`void ${fn}(${JSON.stringify(session)}, ${JSON.stringify(message)}, ${tokens}, ${intervalMs})`);

async function stoppedFromB(page: Page, session: string, message: string): Promise<PageStream> {
  const key = JSON.stringify(message);
  await waitIn(page, `window.streams[${key}] && window.streams[${key}].tokens.length >= 3`);
  const r = await postJson(`${sc.b.url}/stopline/v1/cancel`, { session_id: session, message_id: message });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.outcome, 'stopped');
  assert.equal(r.json.owner, 'pod-a');
  await waitIn(page, `window.streams[${key}].ended`);
  const s = await streamOf(page, message);
  assert.deepEqual(s.terminal, { session_id: session, message_id: message, reason: 'cancelled' }, 'the page got the terminal event');
  assert.equal(s.done, false);
  assert.equal(await page.textContent(`#stream-${message} .status`), 'stopped (cancelled)');
  const rec = await sc.service.record(message);
  await rec.done;
  assert.equal(rec.disconnected, true, 'the service saw its client go away');
  assert.equal(rec.finished, false);
  assert.ok(s.tokens.length <= rec.produced, 'the page shows what the service sent, no more');
  assert.deepEqual(s.tokens, Array.from({ length: s.tokens.length }, (_, i) => `tok${i} `), 'whole tokens, in order');
  return s;
}

test('EventSource through replica A, cancel sent to replica B: the page shows the terminal event and the EventSource is closed', async () => {
  const page = await openPage();
  try {
    await start(page, 'startEventSource', 'br-s1', 'br-es1', 5000, 20);
    const s = await stoppedFromB(page, 'br-s1', 'br-es1');
    assert.equal(s.readyState, 2, 'EventSource.CLOSED: it will not reconnect');
    assert.equal(s.errors, 0, 'the stream ended on the terminal event, not on an error');
    const rec = await sc.service.record('br-es1');
    assert.equal(rec.method, 'GET');
    assert.equal(rec.headers['x-session-id'], 'br-s1', 'the session id came from the query string');
  } finally {
    await page.close();
  }
});

test('fetch with a reader through replica A, cancel sent to replica B: the page shows the terminal event and the reader ends', async () => {
  const page = await openPage();
  try {
    await start(page, 'startFetch', 'br-s2', 'br-f1', 5000, 20);
    const s = await stoppedFromB(page, 'br-s2', 'br-f1');
    assert.equal(s.errors, 0, 'the body ended cleanly');
    assert.equal((await sc.service.record('br-f1')).method, 'POST');
  } finally {
    await page.close();
  }
});

test('closing the tab stops both streams at the service', async () => {
  const page = await openPage();
  await start(page, 'startEventSource', 'br-s3', 'br-es3', 5000, 20);
  await start(page, 'startFetch', 'br-s3', 'br-f3', 5000, 20);
  await waitIn(page, `window.streams['br-es3'].tokens.length >= 3 && window.streams['br-f3'].tokens.length >= 3`);
  await page.close();
  for (const id of ['br-es3', 'br-f3']) {
    const rec = await sc.service.record(id);
    await rec.done;
    assert.equal(rec.disconnected, true, `${id}: the service saw its client go away`);
    assert.equal(rec.finished, false);
  }
  const m = await sc.a.metrics();
  assert.equal(metric(m, 'stopline_streams_total', { outcome: 'client_disconnected' }), 2, 'stopline counted both as client_disconnected');
  assert.equal(metric(m, 'stopline_streams_active'), 0);
});

test('uncancelled, both kinds run to the service\'s own end and the page shows every token', async () => {
  const page = await openPage();
  try {
    await start(page, 'startEventSource', 'br-s4', 'br-es4', 20, 1);
    await start(page, 'startFetch', 'br-s4', 'br-f4', 20, 1);
    await waitIn(page, `window.streams['br-es4'].ended && window.streams['br-f4'].ended`);
    const all = Array.from({ length: 20 }, (_, i) => `tok${i} `);
    for (const id of ['br-es4', 'br-f4']) {
      const s = await streamOf(page, id);
      assert.equal(s.done, true, id);
      assert.equal(s.terminal, null, id);
      assert.deepEqual(s.tokens, all, id);
      assert.equal(await page.textContent(`#stream-${id} .status`), 'done');
    }
    assert.deepEqual(pageErrors, [], 'no script error on the page');
  } finally {
    await page.close();
  }
});
