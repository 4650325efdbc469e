// The process: environment → configuration → app; signals; exit codes. Loaded by src/main.ts once Node.js is new enough.
//   exit 0  after a clean drain
//   exit 1  a second signal during the drain, a shutdown past its deadline, or a fatal error
//   exit 2  invalid configuration (one line per bad variable on stderr)
import { createApp } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { beforeAbort, onSignals } from './shutdown.ts';
import { tracingStarted } from './tracing/state.ts';

let config;
try {
  config = loadConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  for (const p of err.problems) process.stderr.write(`stopline: ${p}\n`);
  process.exit(2);
}

const app = createApp(config);
try {
  await app.start();
} catch (err) {
  app.log.error('could not start', { err });
  process.exit(1);
}

// Signals: src/shutdown.ts (one deadline from the first signal across every step; a second signal exits at once).
onSignals(app.log, config.drainTimeoutS * 1000, async (d) => {
  await app.drain(d);
  // Spans still buffered are exported before the end (bounded: 2 s, and by the shutdown deadline).
  if (tracingStarted()) await beforeAbort((await import('./tracing/sdk.ts')).stopTracing(), d.end);
});
