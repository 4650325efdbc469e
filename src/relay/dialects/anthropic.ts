// Anthropic Messages (`event: message_start`). A stopped stream gets `content_block_stop` for the block its last write
// left open, `message_delta` with `stop_reason: "end_turn"` and the usage the service last reported, and
// `message_stop` with stopline's record. "end_turn" rather than "max_tokens" or "pause_turn": those two tell an agent
// loop to continue the turn, and a stopped answer must not be continued by itself.
import type { Dialect } from './dialect.ts';
import { isObject, sseFrame, typeOf, type WireEvent } from './wire.ts';

function message(events: readonly WireEvent[]): Record<string, unknown> | undefined {
  for (const e of events) {
    if (typeOf(e) === 'message_start' && isObject(e.data) && isObject(e.data.message)) return e.data.message;
  }
  return undefined;
}

export const anthropic: Dialect = {
  name: 'anthropic',
  framing: 'sse',
  contentType: 'text/event-stream; charset=utf-8',
  keeps: 'last',
  claims: (first) => typeOf(first) === 'message_start',
  ending(seen, request, record) {
    let out = '';
    let msg = message(seen.first);
    if (msg === undefined) {
      // Stopped before the service answered: the SDKs need a message to finish.
      msg = {
        id: `msg_stopline_${record.message_id}`, type: 'message', role: 'assistant', model: request.model ?? '',
        content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 },
      };
      out += sseFrame('message_start', { type: 'message_start', message: msg });
    }
    // A block is closed only when the last write shows it open: the Python SDK indexes the block a stop names, so a
    // wrong index would raise, while a block left unclosed is accepted by both SDKs.
    let open: number | null = null;
    let finished = false;
    for (const e of seen.last) {
      const d = isObject(e.data) ? e.data : {};
      const type = typeOf(e);
      if (type === 'content_block_start' || type === 'content_block_delta') open = typeof d.index === 'number' ? d.index : null;
      else if (type === 'content_block_stop') open = null;
      else if (type === 'message_delta') finished = true;
      else if (type === 'message_stop') return ''; // the message is already whole: nothing may follow it
    }
    if (open !== null) out += sseFrame('content_block_stop', { type: 'content_block_stop', index: open });
    if (!finished) {
      const usage = isObject(msg.usage) && typeof msg.usage.output_tokens === 'number' ? msg.usage.output_tokens : 0;
      out += sseFrame('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: usage } });
    }
    return out + sseFrame('message_stop', { type: 'message_stop', stopline: record });
  },
};
