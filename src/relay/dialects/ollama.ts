// Ollama's NDJSON streams (/api/chat lines carry `message`, /api/generate lines `response`; both `model` and
// `"done": false`). A stopped stream ends with the one line the service ends every stream with: `"done": true`,
// `done_reason: "stop"` (the service's own word for an answer that ended; its others, "length", "load" and "unload",
// say something untrue here) and stopline's record. Timings and token counts are left out: stopline does not know them.
import type { Dialect } from './dialect.ts';
import { isObject, type WireEvent } from './wire.ts';

function isOllama(e: WireEvent): e is WireEvent & { data: Record<string, unknown> } {
  return isObject(e.data) && typeof e.data.model === 'string' && e.data.done === false;
}

export const ollama: Dialect = {
  name: 'ollama',
  framing: 'ndjson',
  contentType: 'application/x-ndjson',
  keeps: 'none',
  claims: isOllama,
  ending(seen, request, record) {
    const first = seen.first.find(isOllama)?.data;
    const generate = first === undefined ? request.generate : 'response' in first && !('message' in first);
    const line: Record<string, unknown> = {
      model: first?.model ?? request.model ?? '',
      created_at: new Date().toISOString(),
      ...(generate ? { response: '' } : { message: { role: 'assistant', content: '' } }),
      done: true,
      done_reason: 'stop',
      stopline: record,
    };
    return `${JSON.stringify(line)}\n`;
  },
};
