// JSON log lines. Regression: an error was written with its name, message and code only; its stack and its cause
// (where Node and ioredis put the real reason: ECONNREFUSED, ENOTFOUND, an auth failure) were dropped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/log.ts';

const capture = () => {
  const lines: string[] = [];
  return { log: createLogger('debug', { node: 'n1' }, (l) => lines.push(l)), lines: () => lines.map((l) => JSON.parse(l) as Record<string, any>) };
};

test('an error is logged with its stack and its cause, recursively', () => {
  const { log, lines } = capture();
  const root = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6390'), { code: 'ECONNREFUSED' });
  log.error('redis unreachable', { err: new Error('Connection is closed.', { cause: root }) });
  const [line] = lines();
  assert.equal(line!.msg, 'redis unreachable');
  assert.equal(line!.node, 'n1');
  assert.equal(line!.err.message, 'Connection is closed.');
  assert.match(line!.err.stack, /^Error: Connection is closed\.\n\s+at /);
  assert.equal(line!.err.cause.code, 'ECONNREFUSED');
  assert.match(line!.err.cause.stack, /ECONNREFUSED/);
});

test('an AggregateError (a connect that tried every address) keeps each error', () => {
  const { log, lines } = capture();
  const err = new AggregateError([Object.assign(new Error('connect ECONNREFUSED ::1:6390'), { code: 'ECONNREFUSED' })], '');
  log.warn('x', { err });
  assert.equal(lines()[0]!.err.errors[0].code, 'ECONNREFUSED');
});

test('below the level, nothing is written; tracing off, no trace ids', () => {
  const lines: string[] = [];
  const log = createLogger('warn', {}, (l) => lines.push(l));
  log.info('dropped');
  log.warn('kept');
  assert.equal(lines.length, 1);
  assert.equal((JSON.parse(lines[0]!) as Record<string, unknown>).trace_id, undefined);
});
