// Whether the OpenTelemetry SDK was started (by the preload, or a test). Read once when the app is built: with
// tracing off, the relay and the coordinator get no-op hooks and nothing is done per stream.
let started = false;
export const tracingStarted = (): boolean => started;
export const markTracingStarted = (): void => { started = true; };

// The admin port's requests are never traced: it is marked once bound, unmarked when closed.
const untracedPorts = new Set<number>();
export const isUntracedPort = (port: number | undefined): boolean => port !== undefined && untracedPorts.has(port);
export const markUntracedPort = (port: number): void => { untracedPorts.add(port); };
export const unmarkUntracedPort = (port: number): void => { untracedPorts.delete(port); };
