// Vercel AI SDK UI message streams (response header `x-vercel-ai-ui-message-stream: v1`). A stopped stream ends as
// the AI SDK itself ends an aborted one (streamText's abort chunk through toUIMessageStream, then
// JsonToSseTransformStream's `[DONE]`). The chunk schema is a loose object, so stopline's record rides in the chunk.
import type { Dialect } from './dialect.ts';
import { sseFrame } from './wire.ts';

export const aiSdkHeader = 'x-vercel-ai-ui-message-stream';

export const aiSdk: Dialect = {
  name: 'ai-sdk',
  framing: 'sse',
  contentType: 'text/event-stream',
  earlyHeaders: { [aiSdkHeader]: 'v1', 'x-accel-buffering': 'no' },
  keeps: 'none',
  // Told by the response header alone, never by an event.
  claims: () => false,
  ending: (_seen, _request, record) => `${sseFrame(null, { type: 'abort', reason: `stopline: ${record.reason}`, stopline: record })}data: [DONE]\n\n`,
};
