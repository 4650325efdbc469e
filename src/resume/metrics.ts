// Resume's metrics, on the app's registry: exported only when resume is on (a replica without it shows none).
import { Counter, Gauge, type Registry } from 'prom-client';

/** How a resume ended: `whole` (to the stream's end), `cut` (window passed, stream failed or the owner went away),
 *  `left` (its client went away), or refused: `not_found`, `window_passed`, `unavailable` (503), `bad_request`. */
export const resumeOutcomes = ['whole', 'cut', 'left', 'not_found', 'window_passed', 'unavailable', 'bad_request'] as const;
export type ResumeOutcome = (typeof resumeOutcomes)[number];
/** Where it was served from: this replica holds the stream (`local`), or another does (`peer`). */
export const resumePaths = ['local', 'peer'] as const;
export type ResumePath = (typeof resumePaths)[number];
/** How a generation whose client went away ended: within the window, or `aborted` for want of a follower. */
export const detachedEnds = ['completed', 'cancelled', 'aborted', 'upstream_error', 'shutdown'] as const;
export type DetachedEnd = (typeof detachedEnds)[number];

/** `budget` is the replica's bound on output held (`max`, STOPLINE_RESUME_REPLICA_BYTES) and what it holds now. */
export function createResumeMetrics(registry: Registry, budget: { readonly max: number; readonly held: number }) {
  const r = [registry];
  const resumes = new Counter({ name: 'stopline_resumes_total', help: 'Resumes and follows answered, by how they ended and where they were served from', labelNames: ['outcome', 'path'], registers: r });
  const followers = new Gauge({ name: 'stopline_resume_followers_active', help: 'Followers being served by this replica (its own streams, and relayed from their owners)', labelNames: ['path'], registers: r });
  const detached = new Counter({ name: 'stopline_detached_streams_total', help: 'Generations that ran on after their client went away, by how they ended', labelNames: ['end'], registers: r });
  const detachedActive = new Gauge({ name: 'stopline_detached_streams_active', help: 'Generations running on this replica with their client gone', registers: r });
  new Gauge({ name: 'stopline_resume_buffer_bytes', help: 'Stream output held in memory for resumes, over every stream of this replica', registers: r, collect() { this.set(budget.held); } });
  new Gauge({ name: 'stopline_resume_buffer_limit_bytes', help: 'The most stream output this replica holds for resumes (STOPLINE_RESUME_REPLICA_BYTES)', registers: r }).set(budget.max);
  for (const p of resumePaths) {
    followers.set({ path: p }, 0);
    for (const o of resumeOutcomes) resumes.inc({ outcome: o, path: p }, 0);
  }
  for (const e of detachedEnds) detached.inc({ end: e }, 0);
  return { resumes, followers, detached, detachedActive };
}

export type ResumeMetrics = ReturnType<typeof createResumeMetrics>;
