/**
 * The agent's configuration: its schema table and the typed object the rest
 * of the agent reads. Run `otterscale-agent --help` for the same table as text.
 *
 * `kubeconfig` also falls back to the conventional KUBECONFIG variable (after
 * the config file, before the default), and when it is empty the agent uses the
 * in-cluster service account.
 */

import {
  type ConfigSources,
  type ConfigValues,
  loadConfig,
  type LoadResult,
  type ProgramSchema,
} from "../shared/config/mod.ts";
import type { LogLevel } from "../shared/log.ts";
import { VERSION } from "../shared/version.ts";

export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

/** Cluster names become DNS labels and Kubernetes object names, hence the label rules. */
const CLUSTER_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const CLUSTER_NAME_MAX = 63;

export const AGENT_SCHEMA: ProgramSchema = {
  program: "otterscale-agent",
  section: "agent",
  otherSections: ["server"],
  keys: [
    {
      key: "agent.cluster",
      type: "string",
      default: "default",
      check: checkClusterName,
      description: "Name of this cluster in the fleet (lowercase letters, digits and -, at most 63).",
    },
    {
      key: "agent.server_url",
      type: "url",
      default: "http://127.0.0.1:8299",
      required: true,
      description: "URL of the OtterScale server, used for enrolment.",
    },
    {
      key: "agent.tunnel.server_url",
      type: "url",
      default: "https://127.0.0.1:8300",
      required: true,
      description: "URL of the server's tunnel listener.",
    },
    {
      key: "agent.bootstrap",
      type: "boolean",
      default: "true",
      description: "Install FluxCD and the operator CRD on start.",
    },
    {
      key: "agent.kubeconfig",
      type: "string",
      default: "",
      fallbackEnv: "KUBECONFIG",
      description: "Kubeconfig file for the local cluster; empty means the in-cluster service account.",
    },
    {
      key: "agent.enrolment_token",
      type: "string",
      default: "",
      secret: true,
      description: "Token from the agent manifest, needed for the first registration.",
    },
    {
      key: "agent.log_level",
      type: "enum",
      choices: LOG_LEVELS,
      default: "info",
      description: "Lowest level of log lines written.",
    },
  ],
};

export interface AgentConfig {
  readonly cluster: string;
  readonly serverUrl: URL;
  readonly tunnel: { readonly serverUrl: URL };
  readonly bootstrap: boolean;
  /** Empty: use the in-cluster service account. */
  readonly kubeconfig: string;
  /** Empty when the agent is already enrolled. */
  readonly enrolmentToken: string;
  readonly logLevel: LogLevel;
}

export type AgentConfigResult = LoadResult<AgentConfig>;

/** Throws ConfigError (every problem listed) when the configuration is incomplete or invalid. */
export function loadAgentConfig(args: readonly string[], sources?: ConfigSources): AgentConfigResult {
  return loadConfig(AGENT_SCHEMA, VERSION, args, toAgentConfig, sources);
}

function toAgentConfig(values: ConfigValues): AgentConfig {
  return {
    cluster: values.string("agent.cluster"),
    serverUrl: values.url("agent.server_url"),
    tunnel: { serverUrl: values.url("agent.tunnel.server_url") },
    bootstrap: values.boolean("agent.bootstrap"),
    kubeconfig: values.string("agent.kubeconfig"),
    enrolmentToken: values.string("agent.enrolment_token"),
    logLevel: values.choice("agent.log_level", LOG_LEVELS),
  };
}

function checkClusterName(name: string): string | undefined {
  if (name.length > CLUSTER_NAME_MAX) return `cluster names have at most ${CLUSTER_NAME_MAX} characters`;
  if (!CLUSTER_NAME.test(name)) {
    return "cluster names use lowercase letters, digits and -, starting and ending with a letter or digit";
  }
  return undefined;
}
