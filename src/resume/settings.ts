// Resume's configuration: which streams keep their output for followers, how much of it, and for how long a
// generation runs on without a client. Off unless STOPLINE_RESUME_ROUTES is set: then nothing is kept, nothing is
// looked up, and a client that goes away aborts the upstream as on any other route.
import type { Route } from '../config.ts';

export interface ResumeSettings {
  /** Requests on these routes (that become tracked streams) can be resumed and followed. */
  readonly routes: readonly Route[];
  /** The most of one stream's output kept on its owner; older output leaves the window. */
  readonly streamBytes: number;
  /** The most kept by one replica over all its streams. */
  readonly replicaBytes: number;
  /** How long a generation whose client went away runs on without any follower before it is aborted. */
  readonly detachMs: number;
  /** How long a finished stream's output stays for a client that comes back after the end. */
  readonly keepMs: number;
  /** The route answering a session's active stream (the AI SDK's `GET /api/chat/:id/stream`), or null. */
  readonly activeRoute: ActiveRoute | null;
}

/** `GET /api/chat/:id/stream`: the path around the `:id` segment, which is the session id. */
export interface ActiveRoute { readonly before: string; readonly after: string }

export const resumeDefaults = {
  streamBytes: 8 * 1024 * 1024, // 8 MiB: a long answer with tool calls is well under 1 MiB
  replicaBytes: 256 * 1024 * 1024, // 256 MiB
  detachMs: 30_000, // a reload or a network change comes back within seconds
  keepMs: 30_000,
} as const;

/** What loadConfig lends to parse these variables with its own helpers (and report problems with the others). */
export interface SettingsParser {
  opt(name: string): string | undefined;
  int(name: string, fallback: number, min: number, max: number): number;
  bad(name: string, value: string, allowed: string): void;
  routes(name: string, raw: string | undefined): Route[];
}

export function parseResumeSettings(p: SettingsParser): ResumeSettings | null {
  const raw = p.opt('STOPLINE_RESUME_ROUTES');
  const streamBytes = p.int('STOPLINE_RESUME_STREAM_BYTES', resumeDefaults.streamBytes, 1_024, 1024 * 1024 * 1024);
  const replicaBytes = p.int('STOPLINE_RESUME_REPLICA_BYTES', resumeDefaults.replicaBytes, 1_024, 64 * 1024 * 1024 * 1024);
  const detachMs = p.int('STOPLINE_RESUME_DETACH_MS', resumeDefaults.detachMs, 0, 3_600_000);
  const keepMs = p.int('STOPLINE_RESUME_KEEP_MS', resumeDefaults.keepMs, 0, 3_600_000);
  const activeRaw = p.opt('STOPLINE_RESUME_ACTIVE_ROUTE');
  let activeRoute: ActiveRoute | null = null;
  if (activeRaw !== undefined) {
    const m = /^GET\s+(\/\S*?)(?<=\/):id((?:\/\S*)?)$/.exec(activeRaw);
    if (m === null || m[1]!.startsWith('/stopline/')) p.bad('STOPLINE_RESUME_ACTIVE_ROUTE', activeRaw, 'expected "GET /path/:id/rest" with one :id segment (the session id), outside /stopline/');
    else activeRoute = { before: m[1]!, after: m[2]! };
  }
  if (raw === undefined) {
    if (activeRaw !== undefined) p.bad('STOPLINE_RESUME_ACTIVE_ROUTE', activeRaw, 'needs STOPLINE_RESUME_ROUTES (resume is off without it)');
    return null;
  }
  const routes = p.routes('STOPLINE_RESUME_ROUTES', raw);
  if (replicaBytes < streamBytes) {
    p.bad('STOPLINE_RESUME_REPLICA_BYTES', String(replicaBytes), `expected at least STOPLINE_RESUME_STREAM_BYTES (${streamBytes})`);
  }
  return { routes, streamBytes, replicaBytes, detachMs, keepMs, activeRoute };
}

/** The session id in a path of the active-stream route, or undefined when the path is not one. */
export function activeRouteSession(r: ActiveRoute, path: string): string | undefined {
  if (!path.startsWith(r.before) || !path.endsWith(r.after)) return undefined;
  const id = path.slice(r.before.length, path.length - r.after.length);
  return id.length > 0 && !id.includes('/') ? decodeURIComponentSafe(id) : undefined;
}

function decodeURIComponentSafe(s: string): string | undefined {
  try { return decodeURIComponent(s); } catch { return undefined; }
}
