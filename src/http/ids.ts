// Where a request's session and message ids are read: configured sources, first hit wins.
import type { IncomingHttpHeaders } from 'node:http';
import type { IdSource } from '../config.ts';
import { firstHeader } from './headers.ts';

export type IdResult = { readonly id: string; readonly source: IdSource } | undefined;

export function needsJson(sources: readonly IdSource[]): boolean {
  return sources.some((s) => s.kind === 'json');
}

/** The first source that has a value (a string, or a finite number, which is read as its decimal string). */
export function readId(sources: readonly IdSource[], headers: IncomingHttpHeaders, query: URLSearchParams | null, json: unknown): string | undefined {
  for (const s of sources) {
    let v: unknown;
    if (s.kind === 'header') v = firstHeader(headers[s.name]);
    else if (s.kind === 'query') v = query?.get(s.name) ?? undefined;
    else v = pick(json, s.path);
    if (typeof v === 'number' && Number.isFinite(v)) v = String(v);
    if (typeof v === 'string' && v !== '') return v;
  }
  return undefined;
}

function pick(json: unknown, path: readonly string[]): unknown {
  let v = json;
  for (const p of path) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = Object.hasOwn(v, p) ? (v as Record<string, unknown>)[p] : undefined;
  }
  return v;
}
