// What the ioredis instrumentation writes into `db.query.text`. Its default writes every argument: for stopline's
// scripts those are session and message ids, the node id and the stream's traceparent. This keeps the command, the
// configured key prefix and the counts only, e.g. `EVALSHA stopline:… (4 keys, 3 args)`: nothing a caller sent.
import type { CommandArgs } from '@opentelemetry/instrumentation-ioredis';

export function redisStatement(prefix: string): (cmdName: string, cmdArgs: CommandArgs) => string {
  const keyShape = (arg: unknown): string => (typeof arg === 'string' && prefix !== '' && arg.startsWith(prefix) ? `${prefix}…` : '…');
  return (cmdName, cmdArgs) => {
    const name = cmdName.toUpperCase();
    if (name === 'EVALSHA' || name === 'EVAL' || name === 'EVALSHA_RO' || name === 'EVAL_RO' || name === 'FCALL') {
      const keys = Math.max(0, Number(cmdArgs[1]) || 0);
      const args = Math.max(0, cmdArgs.length - 2 - keys);
      return keys === 0 ? `${name} (${args} args)` : `${name} ${keyShape(cmdArgs[2])} (${keys} keys, ${args} args)`;
    }
    if (cmdArgs.length === 0) return name;
    return `${name} ${keyShape(cmdArgs[0])}${cmdArgs.length > 1 ? ` (${cmdArgs.length} args)` : ''}`;
  };
}
