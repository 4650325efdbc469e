// Every Redis key and channel stopline uses is built here. A session's keys share the hash tag {<session id>}, so in
// Redis Cluster they live in one slot and a Lua script can touch them all atomically. A replica's own keys (its
// heartbeat, its state marker, its inbox of cancels) share the tag {@<node id>}: one slot per replica, which no
// session can share ('@' is not allowed in an id), so the poll is one round trip in Cluster too. Ids are validated
// before they get here (1-128 chars of A-Za-z0-9._:-), so no id can close the tag or reach into another
// deployment's prefix.
export const idPattern = /^[A-Za-z0-9._:-]{1,128}$/;

export function isValidId(id: unknown): id is string {
  return typeof id === 'string' && idPattern.test(id);
}

export interface StreamRef {
  readonly sessionId: string;
  readonly messageId: string;
}

export function createKeys(prefix: string) {
  const base = (sessionId: string) => `${prefix}{${sessionId}}:`;
  return {
    /** Prefix of every key of one session; the Lua scripts append `m:`, `c:`, `d:` + message id to it. */
    base,
    /** The live registration of one stream: "owner\ttraceparent\tstarted at (ms since the epoch)". */
    live: (s: StreamRef) => `${base(s.sessionId)}m:${s.messageId}`,
    /** The set of live message ids of a session (for session-wide cancel). */
    sessionSet: (sessionId: string) => `${base(sessionId)}live`,
    /** The cancel flag of one stream: a list of waiters "node\tcancelId"; existence means "stop it". */
    flag: (s: StreamRef) => `${base(s.sessionId)}c:${s.messageId}`,
    /** The short-lived "done" marker of a finished stream: "outcome\towner\thow the stop reached the owner". */
    done: (s: StreamRef) => `${base(s.sessionId)}d:${s.messageId}`,
    /** A replica's heartbeat: SET with a short TTL on every poll; gone means its registrations are not live. */
    heartbeat: (nodeId: string) => `${prefix}{@${nodeId}}:hb`,
    /** A replica's state marker (its process epoch); gone means Redis lost the replica's registrations. */
    epoch: (nodeId: string) => `${prefix}{@${nodeId}}:epoch`,
    /** A replica's inbox: a Redis stream of "sid\tmid" entries, the cancels addressed to its streams. */
    inbox: (nodeId: string) => `${prefix}{@${nodeId}}:inbox`,
    /** Prefix of the per-replica Pub/Sub channels; a replica listens on nodeChannel(own id). */
    channelPrefix: `${prefix}node:`,
    nodeChannel: (nodeId: string) => `${prefix}node:${nodeId}`,
  };
}

export type Keys = ReturnType<typeof createKeys>;
