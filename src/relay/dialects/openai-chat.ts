// OpenAI Chat Completions (`"object": "chat.completion.chunk"`). A stopped stream gets one closing chunk per choice
// with the upstream's own id, model and created, `finish_reason: "stop"` and stopline's record, then `data: [DONE]`,
// as the service ends every stream. "stop" and not "length": the SDKs' parse and tool-runner helpers throw on
// "length" (LengthFinishReasonError), and a stopped answer must not read as one to continue.
import type { Dialect } from './dialect.ts';
import { isObject, sseFrame, type WireEvent } from './wire.ts';

const maxChoices = 128;

function isChunk(e: WireEvent): e is WireEvent & { data: Record<string, unknown> } {
  return isObject(e.data) && e.data.object === 'chat.completion.chunk';
}

/** The choice indexes the stream used: the request's `n`, and any index seen in its first events. */
function choiceCount(events: readonly WireEvent[], asked: number): number {
  let n = asked;
  for (const e of events) {
    if (!isChunk(e) || !Array.isArray(e.data.choices)) continue;
    for (const c of e.data.choices) {
      if (isObject(c) && Number.isSafeInteger(c.index) && (c.index as number) < maxChoices) n = Math.max(n, (c.index as number) + 1);
    }
  }
  return n;
}

/** Azure OpenAI opens a stream with its prompt filter results: `"choices": []`, an empty `object`, no id yet. */
function isAzureFirst(e: WireEvent): boolean {
  return isObject(e.data) && Array.isArray(e.data.choices) && Array.isArray(e.data.prompt_filter_results);
}

export const openaiChat: Dialect = {
  name: 'openai-chat',
  framing: 'sse',
  contentType: 'text/event-stream; charset=utf-8',
  keeps: 'none',
  claims: (first) => isChunk(first) || isAzureFirst(first),
  ending(seen, request, record) {
    const first = seen.first.find(isChunk)?.data;
    const head: Record<string, unknown> = {
      id: first?.id ?? `chatcmpl-stopline-${record.message_id}`,
      object: 'chat.completion.chunk',
      created: first?.created ?? Math.floor(Date.now() / 1000),
      model: first?.model ?? request.model ?? '',
    };
    if (first?.service_tier !== undefined) head.service_tier = first.service_tier;
    if (first?.system_fingerprint !== undefined) head.system_fingerprint = first.system_fingerprint;
    // Before any upstream chunk, the choice also needs its role: the SDKs' final-result helpers require one.
    const delta = first === undefined ? { role: 'assistant', content: '' } : {};
    let out = '';
    const n = choiceCount(seen.first, request.choices);
    for (let index = 0; index < n; index++) {
      out += sseFrame(null, { ...head, choices: [{ index, delta, logprobs: null, finish_reason: 'stop' }], stopline: record });
    }
    return `${out}data: [DONE]\n\n`;
  },
};
