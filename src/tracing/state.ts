// Whether the OpenTelemetry SDK was started (by the preload, or a test). Read once when the app is built: with
// tracing off, the relay and the coordinator get no-op hooks and nothing is done per stream.
let started = false;
export const tracingStarted = (): boolean => started;
export const markTracingStarted = (): void => { started = true; };
