// The Node.js version check, run before anything that needs a recent Node is loaded: undici 8 needs 22.19, and on an
// older Node fails inside its own code with a TypeError that names nothing an operator can act on. Imports nothing.
export const minimumNode = [22, 19] as const;

/** The problem with this Node.js version, or null when it is new enough. */
export function nodeProblem(version: string = process.versions.node): string | null {
  const [major = 0, minor = 0] = version.split('.').map((n) => Number.parseInt(n, 10));
  if (major > minimumNode[0] || (major === minimumNode[0] && minor >= minimumNode[1])) return null;
  return `stopline: Node.js ${minimumNode.join('.')} or later is needed; this is Node.js ${version} (${process.execPath})`;
}

/** Exits with code 1 and one line on stderr when Node.js is too old. */
export function requireNode(): void {
  const problem = nodeProblem();
  if (problem === null) return;
  process.stderr.write(`${problem}\n`);
  process.exit(1);
}
