// Where scripts/install-ship-tools.sh put the linters: $STOPLINE_TOOLS, else ${XDG_CACHE_HOME:-$HOME/.cache}/
// stopline-tools (the script's default). A missing tool is a test failure naming the command that installs it.
import { accessSync, constants } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export const toolsDir =
  process.env.STOPLINE_TOOLS || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'stopline-tools');

/** Path of a file under the tools folder that must exist (an executable when `executable` is set). */
export function toolPath(relative: string, executable = true): string {
  const path = join(toolsDir, relative);
  try {
    accessSync(path, executable ? constants.X_OK : constants.R_OK);
  } catch {
    throw new Error(`${path} is missing: run \`sh scripts/install-ship-tools.sh\` (or scripts/setup.sh) first`);
  }
  return path;
}
