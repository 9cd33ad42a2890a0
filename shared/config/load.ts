/** The engine: flags > env > config file > (fallback env) > defaults, for any program schema. */

import { ConfigValues } from "./config_values.ts";
import { denoEnv, type EnvReader, readEnv, readFallbackEnv } from "./env.ts";
import { ConfigError, type ConfigProblem } from "./errors.ts";
import { denoReadFile, type FileReader, type FileValues, findConfigFile, parseConfigFile } from "./file.ts";
import { parseFlags } from "./flags.ts";
import { helpText, versionText } from "./help.ts";
import { whereToSet } from "./names.ts";
import type { ConfigKey, ProgramSchema } from "./schema.ts";
import { checkSchema } from "./schema_check.ts";
import { type ConfigValue, isEmptyValue, parseValue, type RawValue, type SourcedValue } from "./values.ts";

/** Where configuration comes from; tests replace these, programs use the defaults. */
export interface ConfigSources {
  /** Defaults to `Deno.env.get`. */
  readonly env?: EnvReader;
  /** Returns undefined for a missing file. Defaults to `Deno.readTextFileSync`. */
  readonly readFile?: FileReader;
  /** Base for relative config paths. Defaults to relative paths as they are. */
  readonly cwd?: string;
}

export type LoadResult<T> =
  | {
    readonly kind: "config";
    readonly config: T;
    /** Things worth logging but not fatal, e.g. unknown keys in the config file. */
    readonly warnings: readonly string[];
    /** The config file read, if any. */
    readonly configFile?: string;
  }
  | { readonly kind: "help"; readonly text: string }
  | { readonly kind: "version"; readonly text: string };

/**
 * Loads one program's configuration and maps it with `build`. Throws ConfigError
 * listing every problem at once (missing required keys, bad values, bad flags).
 */
export function loadConfig<T>(
  schema: ProgramSchema,
  version: string,
  args: readonly string[],
  build: (values: ConfigValues) => T,
  sources: ConfigSources = {},
): LoadResult<T> {
  checkSchema(schema);
  const flags = parseFlags(schema, args);
  if (flags.request === "help") return { kind: "help", text: helpText(schema, version) };
  if (flags.request === "version") return { kind: "version", text: versionText(schema, version) };

  const envReader = sources.env ?? denoEnv;
  const env = readEnv(schema, envReader);
  const found = findConfigFile(flags.configPath, sources.readFile ?? denoReadFile, sources.cwd);
  const file: FileValues = found.file
    ? parseConfigFile(schema, found.file)
    : { values: new Map(), warnings: [], problems: [] };

  const problems: ConfigProblem[] = [...flags.problems, ...file.problems];
  const missing: ConfigProblem[] = [];
  const values = new Map<string, ConfigValue>();
  for (const entry of schema.keys) {
    const chosen = flags.values.get(entry.key) ?? env.get(entry.key) ?? file.values.get(entry.key) ??
      readFallbackEnv(entry, envReader) ?? defaultOf(entry);
    if (!chosen || (entry.required && isEmptyValue(entry, chosen.raw))) {
      missing.push(missingProblem(schema, entry, chosen));
      continue;
    }
    const parsed = parseValue(entry, chosen.raw);
    if ("reason" in parsed) {
      problems.push({
        key: entry.key,
        source: chosen.source,
        reason: `${shown(entry, chosen.raw)}: ${parsed.reason}`,
      });
    } else {
      values.set(entry.key, parsed.value);
    }
  }
  if (problems.length > 0 || missing.length > 0) throw new ConfigError([...problems, ...missing]);

  return {
    kind: "config",
    config: build(new ConfigValues(schema, values)),
    warnings: [...found.warnings, ...file.warnings],
    configFile: found.file?.path,
  };
}

function defaultOf(entry: ConfigKey): SourcedValue | undefined {
  return entry.default === undefined ? undefined : { raw: entry.default, source: "default" };
}

function missingProblem(
  schema: ProgramSchema,
  entry: ConfigKey,
  chosen: SourcedValue | undefined,
): ConfigProblem {
  const blanked = chosen && chosen.source !== "default" ? ` but ${chosen.source} is empty` : "";
  return { key: entry.key, reason: `required${blanked}; set ${whereToSet(schema, entry)}` };
}

function shown(entry: ConfigKey, raw: RawValue): string {
  if (entry.secret) return "(hidden value)";
  return JSON.stringify(typeof raw === "string" ? raw : [...raw]);
}
