// OpenAI Responses (`event: response.created`). Both SDKs' final-result helpers accept one terminal event only,
// `response.completed`, and its `response` is the whole answer (the Python SDK returns it as is), so this dialect
// keeps its events (references, no copy) and rebuilds the output at stop time. A stopped stream gets, for each item
// still open, `response.output_text.done` / `response.function_call_arguments.done`, `response.content_part.done`
// and `response.output_item.done` (item status "incomplete"), then `response.completed` whose response says
// `"status": "cancelled"` — the Response object's own word for it — with stopline's record in it.
import type { Dialect, RequestShape, StopRecord } from './dialect.ts';
import { isObject, sseFrame, typeOf, type WireEvent } from './wire.ts';

type Obj = Record<string, unknown>;
interface Item { item: Obj; done: boolean; partsDone: Set<number> }

const lifecycle = new Set(['response.created', 'response.queued', 'response.in_progress']);

function baseResponse(request: RequestShape, record: StopRecord): Obj {
  return {
    id: `resp_stopline_${record.message_id}`, object: 'response', created_at: Math.floor(Date.now() / 1000),
    status: 'in_progress', error: null, incomplete_details: null, model: request.model ?? '', output: [], usage: null,
  };
}

function content(item: Obj): Obj[] {
  if (!Array.isArray(item.content)) item.content = [];
  return item.content as Obj[];
}

/** The response and its output items as the events so far built them, and the last sequence number. */
function replay(events: readonly WireEvent[]): { response: Obj | undefined; items: Map<number, Item>; seq: number } {
  let response: Obj | undefined;
  const items = new Map<number, Item>();
  let seq = -1;
  for (const e of events) {
    const d = e.data;
    if (!isObject(d)) continue;
    if (typeof d.sequence_number === 'number') seq = Math.max(seq, d.sequence_number);
    const type = typeOf(e) ?? '';
    if (lifecycle.has(type)) { if (isObject(d.response)) response = d.response; continue; }
    const at = items.get(d.output_index as number);
    switch (type) {
      case 'response.output_item.added':
        if (isObject(d.item) && typeof d.output_index === 'number') items.set(d.output_index, { item: structuredClone(d.item), done: false, partsDone: new Set() });
        break;
      case 'response.output_item.done':
        if (isObject(d.item) && typeof d.output_index === 'number') items.set(d.output_index, { item: d.item, done: true, partsDone: new Set() });
        break;
      case 'response.content_part.added':
        if (at !== undefined && isObject(d.part)) content(at.item)[d.content_index as number] = { ...d.part };
        break;
      case 'response.content_part.done':
        if (at !== undefined && isObject(d.part)) { content(at.item)[d.content_index as number] = d.part; at.partsDone.add(d.content_index as number); }
        break;
      case 'response.output_text.delta': {
        const part = at === undefined ? undefined : content(at.item)[d.content_index as number];
        if (part !== undefined) part.text = `${typeof part.text === 'string' ? part.text : ''}${String(d.delta)}`;
        break;
      }
      case 'response.output_text.done': {
        const part = at === undefined ? undefined : content(at.item)[d.content_index as number];
        if (part !== undefined) part.text = d.text;
        break;
      }
      case 'response.function_call_arguments.delta':
        if (at !== undefined) at.item.arguments = `${typeof at.item.arguments === 'string' ? at.item.arguments : ''}${String(d.delta)}`;
        break;
      case 'response.function_call_arguments.done':
        if (at !== undefined) at.item.arguments = d.arguments;
        break;
    }
  }
  return { response, items, seq };
}

export const openaiResponses: Dialect = {
  name: 'openai-responses',
  framing: 'sse',
  contentType: 'text/event-stream; charset=utf-8',
  keeps: 'all',
  claims: (first) => typeOf(first) === 'response.created',
  ending(seen, request, record) {
    const { response, items, seq: last } = replay(seen.all.length > 0 ? seen.all : seen.first);
    let seq = last + 1;
    let out = '';
    let base = response;
    if (base === undefined) {
      // Stopped before the service answered: the Python SDK needs `response.created` first.
      base = baseResponse(request, record);
      out += sseFrame('response.created', { type: 'response.created', sequence_number: seq++, response: base });
    }
    const event = (type: string, data: Obj) => { out += sseFrame(type, { type, sequence_number: seq++, ...data }); };
    const indexes = [...items.keys()].sort((a, b) => a - b);
    for (const output_index of indexes) {
      const at = items.get(output_index)!;
      if (at.done) continue;
      const item = at.item;
      const item_id = item.id;
      if (item.type === 'message') {
        content(item).forEach((part, content_index) => {
          if (at.partsDone.has(content_index) || !isObject(part)) return;
          if (part.type === 'output_text') {
            event('response.output_text.done', { item_id, output_index, content_index, text: part.text ?? '', logprobs: [] });
          }
          event('response.content_part.done', { item_id, output_index, content_index, part });
        });
      } else if (item.type === 'function_call') {
        event('response.function_call_arguments.done', { item_id, output_index, arguments: item.arguments ?? '' });
      }
      item.status = 'incomplete';
      event('response.output_item.done', { output_index, item });
    }
    const output = indexes.map((i) => items.get(i)!.item);
    event('response.completed', { response: { ...base, status: 'cancelled', output, stopline: record } });
    return out;
  },
};
