// A stop must be final for an existing browser front end too. An EventSource that was never told of the
// `stopline.cancelled` event sees its stream end, and the browser reconnects by itself (after its retry delay) to
// the same URL, with the same session and message ids. That reconnect must not start the stopped message's
// generation again at the service, and the EventSource must stop reconnecting (an EventSource stops for good when a
// reconnect is answered with anything but a 200 text/event-stream, e.g. 204 No Content).
// Needs Debian's chromium (apt-get install -y chromium).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserScenario } from '../fixtures/browser/scenario.ts';
import { postJson } from '../helpers/client.ts';

const waitMs = 30_000; // a bound on the wait for the browser's reconnect, never a pace

const sc = browserScenario('GET /api/chat/events');

test('a stopped EventSource stream stays stopped: the browser\'s automatic reconnect does not start the generation again', async () => {
  const { a, b, service } = sc;
  const page = await sc.browser.newPage();
  try {
    await page.goto(`${a.url}/page.html`);
    // An existing front end: it closes on the service's own `done` event only.
    await page.evaluate(`void startEventSource('rc-s1', 'rc-m1', 5000, 20, false)`);
    await page.waitForFunction(`window.streams['rc-m1'].tokens.length >= 3`, undefined, { timeout: waitMs });
    const r = await postJson(`${b.url}/stopline/v1/cancel`, { session_id: 'rc-s1', message_id: 'rc-m1' });
    assert.equal(r.json.outcome, 'stopped', JSON.stringify(r.json));
    const first = await service.record('rc-m1');
    await first.done;
    assert.equal(first.disconnected, true);

    // The browser's next attempt decides: a second open (a new stream) or the EventSource closed for good.
    await page.waitForFunction(`window.streams['rc-m1'].opens >= 2 || window.streams['rc-m1'].readyState === 2`, undefined, { timeout: waitMs });
    const again = service.records.filter((x) => x.messageId === 'rc-m1');
    const s = await page.evaluate(`window.streams['rc-m1']`) as { opens: number; readyState: number };
    assert.equal(again.length, 1,
      `the EventSource reconnected with the stopped message's ids and the service generated it again (${again.length} requests, the last produced ${again.at(-1)!.produced} tokens)`);
    assert.equal(s.readyState, 2, 'the EventSource stopped reconnecting (CLOSED)');
  } finally {
    await page.close();
  }
});
