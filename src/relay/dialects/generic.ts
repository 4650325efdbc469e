// The endings of streams whose dialect cannot be told: any other SSE stream gets one `stopline.cancelled` event (one
// name for clients to listen to), any other NDJSON stream one line marked `"stopline": "cancelled"`, and a stream
// without framing simply ends. These final events are stopline's own: their data is the stop record itself
// (`session_id`, `message_id`, `reason`), not nested under a `stopline` key.
import type { Dialect } from './dialect.ts';
import { sseFrame } from './wire.ts';

export const sse: Dialect = {
  name: 'sse',
  framing: 'sse',
  contentType: 'text/event-stream',
  keeps: 'none',
  claims: () => true,
  ending: (_seen, _request, record) => sseFrame('stopline.cancelled', { session_id: record.session_id, message_id: record.message_id, reason: record.reason }),
};

export const ndjson: Dialect = {
  name: 'ndjson',
  framing: 'ndjson',
  contentType: 'application/x-ndjson',
  keeps: 'none',
  claims: () => true,
  ending: (_seen, _request, record) => `${JSON.stringify({ stopline: 'cancelled', session_id: record.session_id, message_id: record.message_id, reason: record.reason })}\n`,
};

export const none: Dialect = {
  name: 'none',
  framing: 'none',
  contentType: 'application/octet-stream',
  keeps: 'none',
  claims: () => true,
  ending: () => '',
};
