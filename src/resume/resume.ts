// Resume, put together from the configuration: the replica's tapes (hub.ts), the data-port endpoints
// (resume-api.ts), and the owner's side of the peers path (peer-follow.ts). Built only when resume is on.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { PeerClient } from '../cancel/peers.ts';
import type { CancelStore } from '../cancel/store.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../observability/metrics.ts';
import type { Tracing } from '../tracing/spans.ts';
import { Hub } from './hub.ts';
import { createResumeMetrics } from './metrics.ts';
import { PeerStreams, peerFollowEndpoint } from './peer-follow.ts';
import { Resumer } from './resume-api.ts';

export interface Resume {
  readonly hub: Hub;
  readonly api: Resumer;
  /** The admin port's peer route for streams; false when the path is not its own. */
  admin(req: IncomingMessage, res: ServerResponse, path: string): boolean;
  close(): void;
}

export function createResume(config: Config, store: CancelStore, peers: PeerClient, metrics: Metrics, tracing: Tracing, log: Logger): Resume | null {
  if (config.resume === null) return null;
  const hub = new Hub(config.resume);
  const m = createResumeMetrics(metrics.registry, hub.budget);
  hub.metrics = m;
  const api = new Resumer(config, hub, store, peers.enabled ? new PeerStreams(config, peers, log) : null, m, log);
  api.tracing = tracing;
  return { hub, api, admin: peerFollowEndpoint(config, api.serve), close: () => hub.close() };
}
