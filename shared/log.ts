/**
 * Structured JSON logs, one object per line on stderr, so that a log shipper
 * can parse them without guessing at formats.
 */

export type LogLevel = "debug" | "info" | "warn" | "error";

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line it writes. */
  with(fields: LogFields): Logger;
}

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogSink = (line: string) => void;

const encoder = new TextEncoder();
const stderrSink: LogSink = (line) => Deno.stderr.writeSync(encoder.encode(line + "\n"));

export function createLogger(level: LogLevel, base: LogFields = {}, sink: LogSink = stderrSink): Logger {
  const write = (lvl: LogLevel, msg: string, fields?: LogFields) => {
    if (rank[lvl] < rank[level]) return;
    const entry = { time: new Date().toISOString(), level: lvl, msg, ...base, ...fields };
    sink(JSON.stringify(entry, errorReplacer));
  };
  return {
    debug: (msg, fields) => write("debug", msg, fields),
    info: (msg, fields) => write("info", msg, fields),
    warn: (msg, fields) => write("warn", msg, fields),
    error: (msg, fields) => write("error", msg, fields),
    with: (fields) => createLogger(level, { ...base, ...fields }, sink),
  };
}

/** Errors serialise to `{}` by default; keep their message instead. */
function errorReplacer(_key: string, value: unknown): unknown {
  if (value instanceof Error) return value.message;
  if (typeof value === "bigint") return value.toString();
  return value;
}

/** For tests and library code that takes a logger but has nothing to say. */
export const silentLogger: Logger = createLogger("error", {}, () => {});
