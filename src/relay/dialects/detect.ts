// Which dialect a stream speaks: from the response head and its first event (`auto`), or as an operator forced it
// for the route. Before the upstream answers, from what the request implies (path and body shape). A stream whose
// dialect cannot be told gets the generic ending of its framing, never another dialect's.
import type { FramingKind } from '../framing.ts';
import { aiSdk, aiSdkHeader } from './ai-sdk.ts';
import { anthropic } from './anthropic.ts';
import type { Dialect, DialectName, RequestShape } from './dialect.ts';
import { ndjson, none, sse } from './generic.ts';
import { ollama } from './ollama.ts';
import { openaiChat } from './openai-chat.ts';
import { openaiResponses } from './openai-responses.ts';
import { isObject, type WireEvent } from './wire.ts';

export const dialects: Readonly<Record<DialectName, Dialect>> = {
  'openai-chat': openaiChat, 'openai-responses': openaiResponses, anthropic, 'ai-sdk': aiSdk, ollama, sse, ndjson, none,
};

const byFraming: Readonly<Record<FramingKind, readonly Dialect[]>> = {
  sse: [openaiChat, openaiResponses, anthropic],
  ndjson: [ollama],
  none: [],
};

export function generic(framing: FramingKind): Dialect {
  return framing === 'sse' ? sse : framing === 'ndjson' ? ndjson : none;
}

/** The dialect the response head alone tells (null: its first event must tell). */
export function fromHead(framing: FramingKind, headers: Record<string, string | string[] | undefined>): Dialect | null {
  if (framing === 'sse' && headers[aiSdkHeader] === 'v1') return aiSdk;
  return framing === 'none' ? none : null;
}

/** The dialect a stream's first event (with data) tells. */
export function fromFirst(framing: FramingKind, first: WireEvent): Dialect {
  return byFraming[framing].find((d) => d.claims(first)) ?? generic(framing);
}

export const noShape: RequestShape = { dialect: null, model: undefined, choices: 1, generate: false };

/** What a request implies, from its path and (when it was read) its JSON body. */
export function requestShape(path: string, body: unknown): RequestShape {
  if (!isObject(body)) return noShape;
  const model = typeof body.model === 'string' ? body.model : undefined;
  const n = body.n;
  const choices = typeof n === 'number' && Number.isSafeInteger(n) && n > 1 ? Math.min(n, 128) : 1;
  const shape = (dialect: DialectName | null, generate = false): RequestShape => ({ dialect, model, choices, generate });
  const streaming = body.stream === true;
  if (path.endsWith('/chat/completions')) return shape(streaming ? 'openai-chat' : null);
  if (path.endsWith('/responses')) return shape(streaming ? 'openai-responses' : null);
  if (path.endsWith('/messages')) return shape(streaming ? 'anthropic' : null);
  // An AI SDK chat request carries a `trigger` ("submit-message", "regenerate-message"), whatever its path; Ollama
  // streams unless told not to.
  if (typeof body.trigger === 'string' && Array.isArray(body.messages)) return shape('ai-sdk');
  if (model !== undefined && body.stream !== false && (path.endsWith('/api/chat') || path.endsWith('/api/generate'))) {
    return shape('ollama', path.endsWith('/api/generate'));
  }
  return shape(null);
}
