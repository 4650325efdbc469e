// The process: environment → configuration → app; signals; exit codes. Loaded by src/main.ts once Node.js is new enough.
//   exit 0  after a clean drain
//   exit 1  a second signal during the drain, or a fatal error
//   exit 2  invalid configuration (one line per bad variable on stderr)
import { createApp } from './app.ts';
import { ConfigError, loadConfig } from './config.ts';
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

let stopping = false;
const onSignal = (signal: NodeJS.Signals) => {
  if (stopping) {
    // A second signal: the operator wants out now.
    app.log.warn('second signal: exiting at once', { signal });
    process.exit(1);
  }
  stopping = true;
  app.log.info('signal received: draining', { signal });
  app.drain().then(async () => {
      // Spans still buffered are exported before the end (bounded: 2 s).
      if (tracingStarted()) await (await import('./tracing/sdk.ts')).stopTracing();
    }).then(
    () => {
      // Every server, connection and timer is closed now, so the process ends by itself with code 0. Should
      // anything still hold it, say what and exit all the same, after 5 s (this timer does not hold it).
      process.exitCode = 0;
      setTimeout(() => {
        app.log.warn('still open after shutdown; exiting', { resources: process.getActiveResourcesInfo() });
        process.exit(0);
      }, 5_000).unref();
    },
    (err: unknown) => { app.log.error('drain failed', { err }); process.exit(1); },
  );
};
process.on('SIGTERM', onSignal);
process.on('SIGINT', onSignal);
