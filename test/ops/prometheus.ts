// Starts a real Prometheus server (Debian package `prometheus`): with no scrape targets by default, for checking
// that queries parse and type-check, or with a given prometheus.yml and the files it names (rule files), for
// end-to-end checks against live targets. The caller stops it.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

export interface Prometheus {
  url: string;
  stop(): Promise<void>;
}

export interface PrometheusOptions {
  binary?: string;
  /** The content of prometheus.yml; relative paths in it (rule_files) resolve next to it. */
  config?: string;
  /** Files written next to prometheus.yml, by file name (rule files). */
  files?: Readonly<Record<string, string>>;
}

const readyTries = 300;
const readyPollMs = 100;
const emptyConfig = 'global:\n  evaluation_interval: 1m\nscrape_configs: []\n';

export async function startPrometheus(options: PrometheusOptions = {}): Promise<Prometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'stopline-prometheus-'));
  const config = join(dir, 'prometheus.yml');
  await writeFile(config, options.config ?? emptyConfig);
  for (const [name, text] of Object.entries(options.files ?? {})) await writeFile(join(dir, name), text);
  // Port 0: Prometheus binds a port of its own and logs it (msg="Listening on" address=127.0.0.1:PORT); a port
  // picked beforehand could be taken by another test's server before Prometheus binds it.
  let url = '';
  const child = spawn(options.binary ?? 'prometheus', [
    `--config.file=${config}`,
    `--storage.tsdb.path=${join(dir, 'data')}`,
    '--web.listen-address=127.0.0.1:0',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    log = (log + chunk).slice(-4000);
    const m = /msg="Listening on" address=(127\.0\.0\.1:\d+)/.exec(log);
    if (m && url === '') url = `http://${m[1]}`;
  });
  const exited = once(child, 'exit');
  let running = true;
  void exited.then(() => { running = false; }, () => { running = false; });

  const stop = async () => {
    if (running) {
      child.kill('SIGTERM');
      await exited.catch(() => undefined);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await once(child, 'spawn');
    for (let tries = 0; ; tries++) {
      if (!running) throw new Error(`prometheus exited before it was ready:\n${log}`);
      if (tries === readyTries) throw new Error(`prometheus not ready after ${readyTries} tries:\n${log}`);
      const ready = url !== '' && await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
      if (ready) break;
      await delay(readyPollMs);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, stop };
}

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface QueryResult {
  httpStatus: number;
  status: string;
  error?: string;
  /** The instant vector (or the one-sample scalar) of a successful query; empty otherwise. */
  result: Sample[];
}

/** Runs an instant query; `status` is "success" when Prometheus accepted the expression. */
export async function query(prometheus: Prometheus, expr: string): Promise<QueryResult> {
  const res = await fetch(`${prometheus.url}/api/v1/query`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ query: expr }).toString(),
  });
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
  let result: Sample[] = [];
  if (body.data?.resultType === 'vector') result = body.data.result as Sample[];
  else if (body.data?.resultType === 'scalar') result = [{ metric: {}, value: body.data.result as [number, string] }];
  return { httpStatus: res.status, status: body.status, ...(body.error === undefined ? {} : { error: body.error }), result };
}

/** GET on the HTTP API (`/api/v1/<path>`); returns `data` of a successful answer, throws otherwise. */
export async function api<T>(prometheus: Prometheus, path: string): Promise<T> {
  const res = await fetch(`${prometheus.url}/api/v1/${path}`);
  const body = (await res.json()) as { status: string; error?: string; data: T };
  if (body.status !== 'success') throw new Error(`GET /api/v1/${path}: ${body.error ?? res.status}`);
  return body.data;
}
