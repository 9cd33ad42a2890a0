/**
 * Environment variables, read one name at a time: the programs run with
 * `--allow-env=OTTERSCALE_*`, under which `Deno.env.get` works per name while
 * `Deno.env.toObject` needs blanket permission.
 */

import { ConfigError } from "./errors.ts";
import { envName } from "./names.ts";
import type { ConfigKey, ProgramSchema } from "./schema.ts";
import type { SourcedValue } from "./values.ts";

export type EnvReader = (name: string) => string | undefined;

export const denoEnv: EnvReader = (name) => Deno.env.get(name);

/** By schema key. Throws ConfigError when the process may not read an `OTTERSCALE_*` variable. */
export function readEnv(schema: ProgramSchema, env: EnvReader): Map<string, SourcedValue> {
  const values = new Map<string, SourcedValue>();
  for (const entry of schema.keys) {
    const name = envName(entry.key);
    const raw = readPermitted(env, name);
    if (raw !== undefined) values.set(entry.key, { raw, source: `env ${name}` });
  }
  return values;
}

/**
 * The key's conventional variable (e.g. KUBECONFIG). It lies outside `OTTERSCALE_*`,
 * so a process not allowed to read it simply treats it as unset.
 */
export function readFallbackEnv(entry: ConfigKey, env: EnvReader): SourcedValue | undefined {
  if (!entry.fallbackEnv) return undefined;
  let raw: string | undefined;
  try {
    raw = env(entry.fallbackEnv);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) return undefined;
    throw error;
  }
  return raw === undefined ? undefined : { raw, source: `env ${entry.fallbackEnv}` };
}

function readPermitted(env: EnvReader, name: string): string | undefined {
  try {
    return env(name);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotCapable)) throw error;
    throw new ConfigError([{
      source: `env ${name}`,
      reason: "not permitted to read this environment variable; run with --allow-env=OTTERSCALE_*",
    }]);
  }
}
