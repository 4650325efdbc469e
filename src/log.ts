// JSON logs on stdout, one object per line. Levels are decided at setup: a disabled level is a no-op function,
// so a log call below the threshold costs one call and nothing else (never used on the per-chunk path anyway).
import type { LogLevel } from './config.ts';

export type LogFn = (msg: string, fields?: Record<string, unknown>) => void;
export interface Logger {
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
}

const order = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
const noop: LogFn = () => {};

export function createLogger(level: LogLevel, base: Record<string, unknown>, write: (line: string) => void = (l) => process.stdout.write(l)): Logger {
  const make = (name: Exclude<LogLevel, 'silent'>): LogFn => {
    if (order[name] < order[level]) return noop;
    return (msg, fields) => {
      write(JSON.stringify({ time: new Date().toISOString(), level: name, msg, ...base, ...fields }, errorReplacer) + '\n');
    };
  };
  return { debug: make('debug'), info: make('info'), warn: make('warn'), error: make('error') };
}

function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message, code: (value as { code?: unknown }).code };
  return value;
}
