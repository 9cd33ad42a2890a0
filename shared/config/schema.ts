/**
 * The shape of a program's configuration schema: one plain table of keys.
 * Everything else (flag names, env names, YAML paths, help text) is derived
 * from it, so a key is declared in exactly one place.
 */

export type ValueType =
  | "string"
  | "list"
  | "boolean"
  | "integer"
  | "duration"
  | "enum"
  | "url"
  | "address";

export interface ConfigKey {
  /** Full dotted YAML path, e.g. `server.tunnel.ca_dir`. */
  readonly key: string;
  readonly type: ValueType;
  /**
   * Written as text and parsed like any other input, so the help shows exactly
   * what a user would type and a broken default fails the same checks.
   */
  readonly default?: string;
  /** An empty value counts as missing, so a required key with a default can still be blanked out. */
  readonly required?: boolean;
  readonly description: string;
  /** Allowed values of an `enum`, lowercase. */
  readonly choices?: readonly string[];
  /** Extra rule for a `string`, or for each item of a `list`: returns why the text is wrong. */
  readonly check?: (text: string) => string | undefined;
  /** Read after the config file and before the default (e.g. the conventional `KUBECONFIG`). */
  readonly fallbackEnv?: string;
  /** Never echo the value in error messages. */
  readonly secret?: boolean;
}

export interface ProgramSchema {
  /** Executable name used by `--help` and `--version`, e.g. `otterscale-server`. */
  readonly program: string;
  /** Top-level YAML section this program reads, e.g. `server`; every key starts with it. */
  readonly section: string;
  /** Top-level sections of a shared config file that belong to other programs: ignored, no warning. */
  readonly otherSections: readonly string[];
  readonly keys: readonly ConfigKey[];
}

/** Flags that every program has besides its schema keys. */
export const BUILTIN_FLAGS = ["config", "help", "version"] as const;
