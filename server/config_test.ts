import assert from "node:assert/strict";
import { envName, flagName } from "../shared/config/mod.ts";
import { envOf, expectConfigError, filesOf } from "../shared/config/test_helpers.ts";
import { VERSION } from "../shared/version.ts";
import { loadServerConfig, SERVER_SCHEMA, type ServerConfig } from "./config.ts";

const REQUIRED_ENV = {
  OTTERSCALE_SERVER_ALLOWED_ORIGINS: "https://console.example.com",
  OTTERSCALE_SERVER_KEYCLOAK_REALM_URL: "https://kc.example.com/realms/otterscale",
  OTTERSCALE_SERVER_EXTERNAL_URL: "https://otterscale.example.com",
  OTTERSCALE_SERVER_EXTERNAL_TUNNEL_URL: "https://tunnel.example.com:8300",
};

function load(
  args: string[],
  vars: Record<string, string> = REQUIRED_ENV,
  files: Record<string, string> = {},
) {
  const result = loadServerConfig(args, { env: envOf(vars), readFile: filesOf(files) });
  assert.equal(result.kind, "config");
  return result as Extract<typeof result, { kind: "config" }>;
}

const configOf = (
  args: string[],
  vars?: Record<string, string>,
  files?: Record<string, string>,
): ServerConfig => load(args, vars, files).config;

Deno.test("server config: flag and env names follow the documented spelling", () => {
  const names = SERVER_SCHEMA.keys.map((
    entry,
  ) => [entry.key, flagName(SERVER_SCHEMA, entry.key), envName(entry.key)]);
  assert.deepEqual(names, [
    ["server.address", "address", "OTTERSCALE_SERVER_ADDRESS"],
    ["server.allowed_origins", "allowed-origins", "OTTERSCALE_SERVER_ALLOWED_ORIGINS"],
    ["server.tunnel.address", "tunnel-address", "OTTERSCALE_SERVER_TUNNEL_ADDRESS"],
    ["server.tunnel.ca_dir", "tunnel-ca-dir", "OTTERSCALE_SERVER_TUNNEL_CA_DIR"],
    [
      "server.tunnel.certificate_lifetime",
      "tunnel-certificate-lifetime",
      "OTTERSCALE_SERVER_TUNNEL_CERTIFICATE_LIFETIME",
    ],
    ["server.keycloak.realm_url", "keycloak-realm-url", "OTTERSCALE_SERVER_KEYCLOAK_REALM_URL"],
    ["server.keycloak.client_id", "keycloak-client-id", "OTTERSCALE_SERVER_KEYCLOAK_CLIENT_ID"],
    ["server.external_url", "external-url", "OTTERSCALE_SERVER_EXTERNAL_URL"],
    ["server.external_tunnel_url", "external-tunnel-url", "OTTERSCALE_SERVER_EXTERNAL_TUNNEL_URL"],
    ["server.log_level", "log-level", "OTTERSCALE_SERVER_LOG_LEVEL"],
    ["server.metrics_token", "metrics-token", "OTTERSCALE_SERVER_METRICS_TOKEN"],
    ["server.shutdown_timeout", "shutdown-timeout", "OTTERSCALE_SERVER_SHUTDOWN_TIMEOUT"],
  ]);
});

Deno.test("server config: defaults, with only the required values given", () => {
  const config = configOf([]);
  assert.deepEqual(config.address, { hostname: "0.0.0.0", port: 8299 });
  assert.deepEqual(config.allowedOrigins, ["https://console.example.com"]);
  assert.deepEqual(config.tunnel, {
    address: { hostname: "127.0.0.1", port: 8300 },
    caDir: "/var/lib/otterscale/ca",
    certificateLifetimeMs: 24 * 3600_000,
  });
  assert.equal(config.keycloak.realmUrl.href, "https://kc.example.com/realms/otterscale");
  assert.equal(config.keycloak.clientId, "otterscale-server");
  assert.equal(config.externalUrl.href, "https://otterscale.example.com/");
  assert.equal(config.externalTunnelUrl.href, "https://tunnel.example.com:8300/");
  assert.equal(config.logLevel, "info");
  assert.equal(config.metricsToken, "");
  assert.equal(config.shutdownTimeoutMs, 10_000);
});

Deno.test("server config: every setting by flag", () => {
  const config = configOf([
    "--address=127.0.0.1:9000",
    "--allowed-origins",
    "https://a.example.com,https://b.example.com:8443",
    "--allowed-origins=*",
    "--tunnel-address",
    "[::]:9001",
    "--tunnel-ca-dir=/tmp/ca",
    "--tunnel-certificate-lifetime=2m",
    "--keycloak-realm-url=http://127.0.0.1:8080/realms/dev",
    "--keycloak-client-id=other-client",
    "--external-url=http://127.0.0.1:9000",
    "--external-tunnel-url=https://127.0.0.1:9001",
    "--log-level=debug",
    "--metrics-token=t0ken",
    "--shutdown-timeout=500ms",
  ], {});
  assert.deepEqual(config.address, { hostname: "127.0.0.1", port: 9000 });
  assert.deepEqual(config.allowedOrigins, ["https://a.example.com", "https://b.example.com:8443", "*"]);
  assert.deepEqual(config.tunnel, {
    address: { hostname: "::", port: 9001 },
    caDir: "/tmp/ca",
    certificateLifetimeMs: 120_000,
  });
  assert.equal(config.keycloak.realmUrl.href, "http://127.0.0.1:8080/realms/dev");
  assert.equal(config.keycloak.clientId, "other-client");
  assert.equal(config.externalUrl.href, "http://127.0.0.1:9000/");
  assert.equal(config.externalTunnelUrl.href, "https://127.0.0.1:9001/");
  assert.equal(config.logLevel, "debug");
  assert.equal(config.metricsToken, "t0ken");
  assert.equal(config.shutdownTimeoutMs, 500);
});

Deno.test("server config: all four required values are reported together when missing", () => {
  const error = expectConfigError(() => loadServerConfig([], { env: envOf({}), readFile: filesOf({}) }));
  assert.deepEqual(error.problems.map((p) => p.key), [
    "server.allowed_origins",
    "server.keycloak.realm_url",
    "server.external_url",
    "server.external_tunnel_url",
  ]);
  for (const entry of SERVER_SCHEMA.keys.filter((e) => e.required)) {
    assert.ok(error.message.includes(`--${flagName(SERVER_SCHEMA, entry.key)}`), entry.key);
    assert.ok(error.message.includes(envName(entry.key)), entry.key);
  }
});

Deno.test("server config: allowed origins must be exact origins or *", () => {
  const bad = [
    ["https://console.example.com/", "https://console.example.com"],
    ["https://console.example.com/app", "https://console.example.com"],
    ["https://Console.example.com", "https://console.example.com"],
    ["console.example.com", "origin such as"],
    ["ftp://files.example.com", "http or https"],
  ];
  for (const [origin, hint] of bad) {
    const error = expectConfigError(() => load([`--allowed-origins=${origin}`]));
    assert.equal(error.problems[0].key, "server.allowed_origins", origin);
    assert.equal(error.problems[0].source, "flag --allowed-origins", origin);
    assert.ok(error.message.includes(hint), `${origin}: ${error.message}`);
  }
});

Deno.test("server config: a bad value names key, source and reason", () => {
  const error = expectConfigError(() =>
    load([], {
      ...REQUIRED_ENV,
      OTTERSCALE_SERVER_EXTERNAL_URL: "grpc://hub",
      OTTERSCALE_SERVER_ADDRESS: ":70000",
    })
  );
  assert.match(
    error.message,
    /server\.address \(from env OTTERSCALE_SERVER_ADDRESS\): ":70000": port "70000"/,
  );
  assert.match(
    error.message,
    /server\.external_url \(from env OTTERSCALE_SERVER_EXTERNAL_URL\): "grpc:\/\/hub"/,
  );
});

Deno.test("server config: the metrics token is marked secret, so errors never echo it", () => {
  const secrets = SERVER_SCHEMA.keys.filter((entry) => entry.secret).map((entry) => entry.key);
  assert.deepEqual(secrets, ["server.metrics_token"]);
});

Deno.test("server config: one file for both programs; the agent section is not warned about", () => {
  const yaml = [
    "server:",
    "  allowed_origins:",
    "    - https://console.example.com",
    "  keycloak:",
    "    realm_url: https://kc.example.com/realms/otterscale",
    "  external_url: https://otterscale.example.com",
    "  external_tunnel_url: https://tunnel.example.com",
    "  tunnel:",
    "    ca_dir: /data/ca",
    "  shutdown_timeout: 30",
    "  log_levle: debug",
    "agent:",
    "  cluster: edge-1",
    "",
  ].join("\n");
  const result = load([], {}, { "./config.yaml": yaml });
  assert.equal(result.config.tunnel.caDir, "/data/ca");
  assert.equal(result.config.shutdownTimeoutMs, 30_000);
  assert.deepEqual(result.warnings, ["unknown config key server.log_levle at ./config.yaml:11"]);
  assert.equal(result.configFile, "./config.yaml");
});

Deno.test("server config: --version and --help", () => {
  assert.deepEqual(loadServerConfig(["--version"]), {
    kind: "version",
    text: `otterscale-server ${VERSION}`,
  });
  const help = loadServerConfig(["--help"]);
  assert.equal(help.kind, "help");
  if (help.kind !== "help") return;
  for (const entry of SERVER_SCHEMA.keys) {
    assert.ok(help.text.includes(`--${flagName(SERVER_SCHEMA, entry.key)} `), entry.key);
    assert.ok(help.text.includes(envName(entry.key)), entry.key);
  }
});
