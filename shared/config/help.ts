/** `--help` and `--version` texts, generated from the schema so they cannot drift from it. */

import { SEARCH_PATHS } from "./file.ts";
import { envName, flagName } from "./names.ts";
import type { ConfigKey, ProgramSchema, ValueType } from "./schema.ts";

const PLACEHOLDER: Record<ValueType, string> = {
  string: "<text>",
  list: "<list>",
  boolean: "",
  integer: "<number>",
  duration: "<duration>",
  enum: "",
  url: "<url>",
  address: "<host:port>",
};

export function versionText(schema: ProgramSchema, version: string): string {
  return `${schema.program} ${version}`;
}

export function helpText(schema: ProgramSchema, version: string): string {
  const s = schema.section;
  return [
    `${versionText(schema, version)}`,
    "",
    `Usage: ${schema.program} [flags]`,
    "",
    "Each setting is taken from the first of: its flag, its environment variable, the config file, its default.",
    `Config file: --config <path> (must exist), else the first of ${SEARCH_PATHS.join(" and ")}.`,
    `Its settings sit under "${s}:" with nested keys, e.g. ${s}.tunnel.x is "${s}: {tunnel: {x: ...}}".`,
    "Lists: items separated by commas or spaces; list flags may also repeat.",
    "Durations: seconds (10) or with units ms, s, m, h (500ms, 10s, 2m, 1m30s).",
    "Booleans: true/false, yes/no, 1/0; as flags --x, --x=false, --no-x.",
    "",
    "Flags:",
    ...schema.keys.flatMap((entry) => describeKey(schema, entry)),
    "  --config <path>",
    "        Config file to read instead of the search paths above.",
    "  -h, --help",
    "        Show this help.",
    "  --version",
    "        Print the version.",
  ].join("\n");
}

function describeKey(schema: ProgramSchema, entry: ConfigKey): string[] {
  const name = flagName(schema, entry.key);
  const usage = entry.type === "boolean"
    ? `--${name}, --no-${name}`
    : `--${name} ${entry.type === "enum" ? `<${(entry.choices ?? []).join("|")}>` : PLACEHOLDER[entry.type]}`;
  const envs = [envName(entry.key), ...(entry.fallbackEnv ? [entry.fallbackEnv] : [])].join(", then ");
  const facts = [
    `type: ${entry.type}`,
    entry.required ? "required" : undefined,
    entry.default !== undefined ? `default: ${entry.default === "" ? '""' : entry.default}` : undefined,
    `env: ${envs}`,
    `file: ${entry.key}`,
  ].filter((fact) => fact !== undefined);
  return [`  ${usage}`, `        ${entry.description}`, `        ${facts.join("; ")}`];
}
