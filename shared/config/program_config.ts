/**
 * What both programs do with their configuration before anything else:
 * print --help or --version, print warnings, or report every problem and
 * exit 2.
 */
import { ConfigError } from "./errors.ts";
import type { LoadResult } from "./load.ts";

/** The configuration, or the exit code the program should end with now. */
export function configOrExitCode<T>(load: (args: string[]) => LoadResult<T>, args: string[]): T | number {
  try {
    const result = load(args);
    if (result.kind !== "config") {
      console.log(result.text);
      return 0;
    }
    for (const warning of result.warnings) console.error(`warning: ${warning}`);
    return result.config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    console.error("Run with --help to see every setting.");
    return 2;
  }
}
