// A browser's own EventSource resuming across replicas: the page's connection is cut in the middle of an answer (its
// socket destroyed at the load balancer, which sends the next connection to the other replica), and the browser
// reconnects by itself to the same URL with Last-Event-ID (the id blocks stopline adds on a resume route). The page
// must end with the whole answer, each event exactly once and in order, and the service must have generated it once,
// never aborted. Needs Debian's chromium (apt-get install -y chromium).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { browserScenario } from '../fixtures/browser/scenario.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';
import { metric } from '../helpers/stopline.ts';
import { until } from '../helpers/net.ts';

const waitMs = 30_000; // a bound on the waits for the browser, never a pace

const sc = browserScenario('GET /api/chat/events', 'GET /api/chat/events');

test('an EventSource cut mid-answer reconnects by itself through the other replica and ends with every event once, in order', async () => {
  const { a, b, service } = sc;
  const lb = await startTcpProxy(a.port); // the load balancer in front of the replicas, for now sending to A
  const page = await sc.browser.newPage();
  try {
    await page.goto(`http://127.0.0.1:${lb.port}/page.html`);
    const tokens = 150;
    // 25 ms a token: the answer is still being generated when the browser reconnects (its retry delay is 3 s).
    await page.evaluate(`void startEventSource('res-s1', 'res-m1', ${tokens}, 25)`);
    await page.waitForFunction(`window.streams['res-m1'].tokens.length >= 5`, undefined, { timeout: waitMs });
    lb.retarget(b.port);
    for (const c of lb.conns) c.client.destroy(); // the cut: the browser's socket goes away
    await page.waitForFunction(`window.streams['res-m1'].ended`, undefined, { timeout: waitMs });

    const s = await page.evaluate(`window.streams['res-m1']`) as { tokens: string[]; done: boolean; opens: number; errors: number };
    assert.equal(s.done, true, 'the page saw the service\'s own last event');
    assert.equal(s.opens, 2, 'one automatic reconnect');
    assert.equal(s.errors, 1);
    assert.deepEqual(s.tokens, Array.from({ length: tokens }, (_, i) => `tok${i} `), 'every event once, in order');
    const recs = service.records.filter((r) => r.messageId === 'res-m1');
    assert.equal(recs.length, 1, 'the reconnect generated nothing again');
    await recs[0]!.done;
    assert.equal(recs[0]!.disconnected, false, 'the generation was never aborted');
    assert.equal(recs[0]!.finished, true);
    // A resume is counted once its response has closed, which can come just after the client read its end.
    await until('the reconnect served through the other replica', async () => metric(await b.metrics(), 'stopline_resumes_total', { outcome: 'whole', path: 'peer' }) === 1);
    assert.equal(metric(await a.metrics(), 'stopline_streams_total', { outcome: 'client_disconnected' }), 0);
  } finally {
    await page.close();
    await lb.close();
  }
});
