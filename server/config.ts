/**
 * The server's configuration: its schema table and the typed object the rest
 * of the server reads. Run `otterscale-server --help` for the same table as text.
 */

import {
  type ConfigSources,
  type ConfigValues,
  type ListenAddress,
  loadConfig,
  type LoadResult,
  type ProgramSchema,
} from "../shared/config/mod.ts";
import type { LogLevel } from "../shared/log.ts";
import { VERSION } from "../shared/version.ts";

export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

export const SERVER_SCHEMA: ProgramSchema = {
  program: "otterscale-server",
  section: "server",
  otherSections: ["agent"],
  keys: [
    {
      key: "server.address",
      type: "address",
      default: ":8299",
      description: "HTTP listen address: Connect, gRPC, gRPC-Web, health, reflection and metrics.",
    },
    {
      key: "server.allowed_origins",
      type: "list",
      required: true,
      check: checkOrigin,
      description:
        "Browser origins allowed by CORS: exact origins such as https://console.example.com, or *.",
    },
    {
      key: "server.tunnel.address",
      type: "address",
      default: "127.0.0.1:8300",
      description: "Listen address of the mutual-TLS tunnel that agents dial.",
    },
    {
      key: "server.tunnel.ca_dir",
      type: "string",
      default: "/var/lib/otterscale/ca",
      description: "Directory where the tunnel CA certificate and key persist.",
    },
    {
      key: "server.tunnel.certificate_lifetime",
      type: "duration",
      default: "24h",
      description: "Lifetime of the client certificates issued to agents; agents renew at two thirds of it.",
    },
    {
      key: "server.keycloak.realm_url",
      type: "url",
      required: true,
      description:
        "OIDC issuer: the Keycloak realm URL, e.g. https://keycloak.example.com/realms/otterscale.",
    },
    {
      key: "server.keycloak.client_id",
      type: "string",
      default: "otterscale-server",
      description: "Audience (aud claim) that access tokens must carry.",
    },
    {
      key: "server.external_url",
      type: "url",
      required: true,
      description: "Public URL of this server, given to agents for enrolment.",
    },
    {
      key: "server.external_tunnel_url",
      type: "url",
      required: true,
      description: "Public URL of the tunnel listener, given to agents.",
    },
    {
      key: "server.log_level",
      type: "enum",
      choices: LOG_LEVELS,
      default: "info",
      description: "Lowest level of log lines written.",
    },
    {
      key: "server.metrics_token",
      type: "string",
      default: "",
      secret: true,
      description: 'When set, /metrics requires "Authorization: Bearer <token>".',
    },
    {
      key: "server.shutdown_timeout",
      type: "duration",
      default: "10s",
      description: "How long unary calls may take to finish after SIGTERM.",
    },
  ],
};

export interface ServerConfig {
  readonly address: ListenAddress;
  /** Exact origins; `*` allows any. */
  readonly allowedOrigins: readonly string[];
  readonly tunnel: {
    readonly address: ListenAddress;
    readonly caDir: string;
    readonly certificateLifetimeMs: number;
  };
  readonly keycloak: { readonly realmUrl: URL; readonly clientId: string };
  readonly externalUrl: URL;
  readonly externalTunnelUrl: URL;
  readonly logLevel: LogLevel;
  /** Empty: /metrics is open. */
  readonly metricsToken: string;
  readonly shutdownTimeoutMs: number;
}

export type ServerConfigResult = LoadResult<ServerConfig>;

/** Throws ConfigError (every problem listed) when the configuration is incomplete or invalid. */
export function loadServerConfig(args: readonly string[], sources?: ConfigSources): ServerConfigResult {
  return loadConfig(SERVER_SCHEMA, VERSION, args, toServerConfig, sources);
}

function toServerConfig(values: ConfigValues): ServerConfig {
  return {
    address: values.address("server.address"),
    allowedOrigins: values.list("server.allowed_origins"),
    tunnel: {
      address: values.address("server.tunnel.address"),
      caDir: values.string("server.tunnel.ca_dir"),
      certificateLifetimeMs: values.durationMs("server.tunnel.certificate_lifetime"),
    },
    keycloak: {
      realmUrl: values.url("server.keycloak.realm_url"),
      clientId: values.string("server.keycloak.client_id"),
    },
    externalUrl: values.url("server.external_url"),
    externalTunnelUrl: values.url("server.external_tunnel_url"),
    logLevel: values.choice("server.log_level", LOG_LEVELS),
    metricsToken: values.string("server.metrics_token"),
    shutdownTimeoutMs: values.durationMs("server.shutdown_timeout"),
  };
}

/**
 * Browsers send the Origin header as scheme://host[:port], lowercase, without a
 * path, so anything else could never match and is a mistake worth reporting.
 */
function checkOrigin(origin: string): string | undefined {
  if (origin === "*") return undefined;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return "expected an origin such as https://console.example.com, or *";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return "expected an http or https origin";
  if (url.origin !== origin) return `expected exactly the origin, i.e. ${url.origin}`;
  return undefined;
}
