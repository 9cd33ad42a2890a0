/**
 * otterscale-agent: enrols this cluster with the hub and serves the hub's
 * requests through one mutual-TLS tunnel. Parses configuration, wires the
 * parts together and handles signals.
 */
import { ConfigError } from "../shared/config/mod.ts";
import { createLogger } from "../shared/log.ts";
import { VERSION } from "../shared/version.ts";
import { type AgentConfig, loadAgentConfig } from "./config.ts";

function main(args: string[]): number {
  const config = loadConfigOrExit(args);
  if (typeof config === "number") return config;
  const log = createLogger(config.logLevel, { program: "otterscale-agent", cluster: config.cluster });
  log.error("enrolment and the tunnel are not implemented in this agent version", { version: VERSION });
  return 1;
}

function loadConfigOrExit(args: string[]): AgentConfig | number {
  try {
    const result = loadAgentConfig(args);
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

if (import.meta.main) Deno.exit(main(Deno.args));
