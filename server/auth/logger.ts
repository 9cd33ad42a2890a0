/** Severity of an auth log line; verification failures are logged at "debug" so floods stay quiet. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Structured log sink injected by the caller (the hub passes its shared logger). */
export type AuthLogger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

export const noopLogger: AuthLogger = () => {};
