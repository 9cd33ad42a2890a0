/** Configuration engine shared by the server and the agent: flags > env > config.yaml > defaults. */

export { ALL_INTERFACES, formatAddress, type ListenAddress } from "./address.ts";
export { ConfigValues } from "./config_values.ts";
export type { EnvReader } from "./env.ts";
export { ConfigError, type ConfigProblem } from "./errors.ts";
export { type FileReader, SEARCH_PATHS } from "./file.ts";
export { type ConfigSources, loadConfig, type LoadResult } from "./load.ts";
export { envName, flagName } from "./names.ts";
export type { ConfigKey, ProgramSchema, ValueType } from "./schema.ts";
