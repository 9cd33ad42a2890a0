/** How a schema key is spelled as an environment variable and as a flag. */

import type { ConfigKey, ProgramSchema } from "./schema.ts";

export const ENV_PREFIX = "OTTERSCALE_";

/** `server.tunnel.ca_dir` → `OTTERSCALE_SERVER_TUNNEL_CA_DIR`. */
export function envName(key: string): string {
  return ENV_PREFIX + key.toUpperCase().replaceAll(".", "_");
}

/**
 * `server.tunnel.ca_dir` → `tunnel-ca-dir`. The program's own section is dropped
 * because each program only has its own flags.
 */
export function flagName(schema: ProgramSchema, key: string): string {
  const prefix = schema.section + ".";
  const local = key.startsWith(prefix) ? key.slice(prefix.length) : key;
  return local.toLowerCase().replaceAll(/[._]/g, "-");
}

/** The places a key can be set, for "missing" errors and help text. */
export function whereToSet(schema: ProgramSchema, entry: ConfigKey): string {
  const envs = [envName(entry.key), ...(entry.fallbackEnv ? [entry.fallbackEnv] : [])];
  return `flag --${flagName(schema, entry.key)}, env ${
    envs.join(" or ")
  }, or ${entry.key} in the config file`;
}
