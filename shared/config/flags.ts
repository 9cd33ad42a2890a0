/**
 * Command-line flags, derived from the schema: `--tunnel-ca-dir /x`, `--tunnel-ca-dir=/x`,
 * `--bootstrap`, `--bootstrap=false`, `--no-bootstrap`; list flags may repeat.
 *
 * node:util parseArgs does the parsing. A small scan runs first because parseArgs
 * rejects `--flag=value` for booleans and words its errors for scripts, not people.
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { ConfigError, type ConfigProblem } from "./errors.ts";
import { flagName } from "./names.ts";
import type { ConfigKey, ProgramSchema } from "./schema.ts";
import { parseValue, type SourcedValue } from "./values.ts";

export interface ParsedFlags {
  /** Set when the user asked for help or the version: nothing else is parsed then. */
  readonly request?: "help" | "version";
  /** Value of `--config`. */
  readonly configPath?: string;
  /** By schema key. */
  readonly values: ReadonlyMap<string, SourcedValue>;
  /** Bad values found while reading flags (e.g. `--bootstrap=maybe`), reported with all others. */
  readonly problems: readonly ConfigProblem[];
}

const HELP_HINT = "run with --help to list the flags";

/** Throws ConfigError for flags that cannot be read at all (unknown flag, missing value, stray argument). */
export function parseFlags(schema: ProgramSchema, args: readonly string[]): ParsedFlags {
  const request = findRequest(args);
  if (request) return { request, values: new Map(), problems: [] };

  const byFlag = new Map(schema.keys.map((entry) => [flagName(schema, entry.key), entry]));
  const problems: ConfigProblem[] = [];
  const normalized = normalizeArgs(args, byFlag, problems);
  const parsed = runParseArgs(normalized, parseArgsOptions(byFlag));

  const values = new Map<string, SourcedValue>();
  for (const [name, entry] of byFlag) {
    const value = parsed[name];
    if (value === undefined) continue;
    if (typeof value === "boolean") {
      values.set(entry.key, { raw: String(value), source: `flag --${value ? "" : "no-"}${name}` });
    } else {
      const raw = typeof value === "string" ? value : value.map(String);
      values.set(entry.key, { raw, source: `flag --${name}` });
    }
  }
  const configPath = parsed.config;
  return { configPath: typeof configPath === "string" ? configPath : undefined, values, problems };
}

/** `--help` wins over everything, even over flags that would be errors, so a confused user still gets help. */
function findRequest(args: readonly string[]): "help" | "version" | undefined {
  const end = args.indexOf("--");
  const flags = end < 0 ? args : args.slice(0, end);
  if (flags.includes("--help") || flags.includes("-h")) return "help";
  if (flags.includes("--version")) return "version";
  return undefined;
}

/** Checks every argument and rewrites `--bool=value` to `--bool` / `--no-bool`, which parseArgs accepts. */
function normalizeArgs(
  args: readonly string[],
  byFlag: ReadonlyMap<string, ConfigKey>,
  problems: ConfigProblem[],
): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") {
      if (i + 1 < args.length) throw unexpectedArgument(args[i + 1]);
      break;
    }
    if (!arg.startsWith("--")) {
      if (arg.startsWith("-") && arg !== "-") throw flagError(`unknown flag ${arg} (${HELP_HINT})`);
      throw unexpectedArgument(arg);
    }
    const eq = arg.indexOf("=");
    const name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    const inline = eq < 0 ? undefined : arg.slice(eq + 1);
    const entry = byFlag.get(name);

    if (entry?.type === "boolean") {
      if (inline === undefined) {
        out.push(arg);
        continue;
      }
      const parsed = parseValue(entry, inline);
      if ("reason" in parsed) {
        problems.push({ key: entry.key, source: `flag --${name}`, reason: `"${inline}": ${parsed.reason}` });
      } else {
        out.push(parsed.value ? `--${name}` : `--no-${name}`);
      }
      continue;
    }
    if (entry || name === "config") {
      if (inline !== undefined) {
        out.push(arg);
        continue;
      }
      const next = args[i + 1];
      if (next === undefined || (next.startsWith("-") && next !== "-")) {
        const hint = next === undefined ? "" : ` (got ${next}; write --${name}=${next} if that is the value)`;
        throw flagError(`flag --${name} needs a value${hint}`);
      }
      out.push(arg, next);
      i++;
      continue;
    }
    if (name.startsWith("no-") && byFlag.get(name.slice(3))?.type === "boolean") {
      if (inline !== undefined) throw flagError(`flag --${name} takes no value`);
      out.push(arg);
      continue;
    }
    throw flagError(`unknown flag --${name} (${HELP_HINT})`);
  }
  return out;
}

function parseArgsOptions(byFlag: ReadonlyMap<string, ConfigKey>): NonNullable<ParseArgsConfig["options"]> {
  const options: NonNullable<ParseArgsConfig["options"]> = { config: { type: "string" } };
  for (const [name, entry] of byFlag) {
    if (entry.type === "boolean") options[name] = { type: "boolean" };
    else if (entry.type === "list") options[name] = { type: "string", multiple: true };
    else options[name] = { type: "string" };
  }
  return options;
}

type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

function runParseArgs(args: string[], options: NonNullable<ParseArgsConfig["options"]>): FlagValues {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false, allowNegative: true }).values;
  } catch (error) {
    // The scan above should leave nothing for parseArgs to reject; this keeps any gap readable.
    throw flagError(error instanceof Error ? error.message : String(error));
  }
}

function unexpectedArgument(arg: string): ConfigError {
  return flagError(
    `unexpected argument "${arg}": settings are given as flags, e.g. --name=value (${HELP_HINT})`,
  );
}

function flagError(reason: string): ConfigError {
  return new ConfigError([{ source: "command line", reason }]);
}
