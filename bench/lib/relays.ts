// The relays users put in front of a streaming service instead of stopline, beside nginx (procs.ts): HAProxy in
// HTTP mode, and a Node.js proxy (http-proxy, the one most Node gateways embed). Each is set up as its users set it
// up for streaming: keep-alive to the upstream, no response buffering, long idle timeouts.
import { fork, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { childPids, freePort, stopChild, tail, waitForPort, type NginxProc } from './procs.ts';

export type RelayProc = NginxProc;

export function haproxyVersion(bin: string): string {
  const r = spawnSync(bin, ['-v'], { encoding: 'utf8' });
  return /HAProxy version (\S+)/.exec(r.stdout ?? '')?.[1] ?? 'unknown';
}

/** HAProxy in HTTP mode; it forwards a response's data as it arrives (no buffering of responses to configure). */
export async function startHaproxy(bin: string, dir: string, upstreamPort: number): Promise<RelayProc> {
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  const conf = `global
  maxconn 9000
defaults
  mode http
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  option http-keep-alive
  option http-no-delay  # forward each chunk at once: a stream is interactive traffic
frontend bench
  bind 127.0.0.1:${port}
  default_backend ai
backend ai
  http-reuse always
  server ai1 127.0.0.1:${upstreamPort} maxconn 9000
`;
  const confPath = join(dir, 'haproxy.cfg');
  writeFileSync(confPath, conf);
  const p = spawn(bin, ['-db', '-f', confPath], { stdio: ['ignore', 'pipe', 'pipe'] });
  const last = tail(p);
  const died = once(p, 'exit').then(() => { throw new Error(`haproxy exited: ${last()}`); });
  died.catch(() => {});
  await Promise.race([waitForPort(port, 'haproxy'), died]);
  return { port, url: `http://127.0.0.1:${port}`, version: haproxyVersion(bin), pids: () => [p.pid!, ...childPids(p.pid!)], stop: () => stopChild(p, 'SIGUSR1') };
}

/** A Node.js reverse proxy on http-proxy (bench/node-proxy.ts), in its own process like the other relays. */
export async function startNodeProxy(script: string, upstreamPort: number): Promise<RelayProc> {
  const port = await freePort();
  const p = fork(script, [String(port), String(upstreamPort)], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  const last = tail(p);
  const died = once(p, 'exit').then(() => { throw new Error(`node proxy exited: ${last()}`); });
  died.catch(() => {});
  await Promise.race([waitForPort(port, 'node proxy'), died]);
  const version = JSON.parse(spawnSync(process.execPath, ['-p', 'JSON.stringify(require("http-proxy/package.json").version)'], { encoding: 'utf8' }).stdout || '"unknown"') as string;
  return { port, url: `http://127.0.0.1:${port}`, version: `http-proxy ${version}`, pids: () => [p.pid!], stop: () => stopChild(p, 'SIGTERM', 2_000) };
}
