import assert from "node:assert/strict";
import { envName, flagName } from "../shared/config/mod.ts";
import { envOf, expectConfigError, filesOf } from "../shared/config/test_helpers.ts";
import { VERSION } from "../shared/version.ts";
import { AGENT_SCHEMA, type AgentConfig, loadAgentConfig } from "./config.ts";

function configOf(
  args: string[],
  vars: Record<string, string> = {},
  files: Record<string, string> = {},
): AgentConfig {
  const result = loadAgentConfig(args, { env: envOf(vars), readFile: filesOf(files) });
  assert.equal(result.kind, "config");
  return (result as Extract<typeof result, { kind: "config" }>).config;
}

Deno.test("agent config: flag and env names follow the documented spelling", () => {
  const names = AGENT_SCHEMA.keys.map((
    entry,
  ) => [entry.key, flagName(AGENT_SCHEMA, entry.key), envName(entry.key)]);
  assert.deepEqual(names, [
    ["agent.cluster", "cluster", "OTTERSCALE_AGENT_CLUSTER"],
    ["agent.server_url", "server-url", "OTTERSCALE_AGENT_SERVER_URL"],
    ["agent.tunnel.server_url", "tunnel-server-url", "OTTERSCALE_AGENT_TUNNEL_SERVER_URL"],
    ["agent.bootstrap", "bootstrap", "OTTERSCALE_AGENT_BOOTSTRAP"],
    ["agent.kubeconfig", "kubeconfig", "OTTERSCALE_AGENT_KUBECONFIG"],
    ["agent.enrolment_token", "enrolment-token", "OTTERSCALE_AGENT_ENROLMENT_TOKEN"],
    ["agent.log_level", "log-level", "OTTERSCALE_AGENT_LOG_LEVEL"],
  ]);
});

Deno.test("agent config: defaults need nothing set", () => {
  const config = configOf([]);
  assert.equal(config.cluster, "default");
  assert.equal(config.serverUrl.href, "http://127.0.0.1:8299/");
  assert.equal(config.tunnel.serverUrl.href, "https://127.0.0.1:8300/");
  assert.equal(config.bootstrap, true);
  assert.equal(config.kubeconfig, "");
  assert.equal(config.enrolmentToken, "");
  assert.equal(config.logLevel, "info");
});

Deno.test("agent config: every setting by env", () => {
  const config = configOf([], {
    OTTERSCALE_AGENT_CLUSTER: "edge-1",
    OTTERSCALE_AGENT_SERVER_URL: "https://otterscale.example.com",
    OTTERSCALE_AGENT_TUNNEL_SERVER_URL: "https://tunnel.example.com:443",
    OTTERSCALE_AGENT_BOOTSTRAP: "No",
    OTTERSCALE_AGENT_KUBECONFIG: "/etc/kube/config",
    OTTERSCALE_AGENT_ENROLMENT_TOKEN: "tok",
    OTTERSCALE_AGENT_LOG_LEVEL: "warn",
  });
  assert.equal(config.cluster, "edge-1");
  assert.equal(config.serverUrl.href, "https://otterscale.example.com/");
  assert.equal(config.tunnel.serverUrl.href, "https://tunnel.example.com/");
  assert.equal(config.bootstrap, false);
  assert.equal(config.kubeconfig, "/etc/kube/config");
  assert.equal(config.enrolmentToken, "tok");
  assert.equal(config.logLevel, "warn");
});

Deno.test("agent config: bootstrap as --no-bootstrap and --bootstrap=false, beating env", () => {
  const env = { OTTERSCALE_AGENT_BOOTSTRAP: "true" };
  assert.equal(configOf(["--no-bootstrap"], env).bootstrap, false);
  assert.equal(configOf(["--bootstrap=false"], env).bootstrap, false);
  assert.equal(configOf(["--bootstrap"], { OTTERSCALE_AGENT_BOOTSTRAP: "0" }).bootstrap, true);
});

Deno.test("agent config: kubeconfig falls back to KUBECONFIG, below the agent's own settings", () => {
  assert.equal(configOf([], { KUBECONFIG: "/home/me/.kube/config" }).kubeconfig, "/home/me/.kube/config");
  const file = { "./config.yaml": "agent:\n  kubeconfig: /from/file\n" };
  assert.equal(configOf([], { KUBECONFIG: "/k" }, file).kubeconfig, "/from/file");
  assert.equal(configOf(["--kubeconfig=/flag"], { KUBECONFIG: "/k" }).kubeconfig, "/flag");
});

Deno.test("agent config: cluster names are DNS labels of at most 63 characters", () => {
  assert.equal(configOf(["--cluster", "a".repeat(63)]).cluster, "a".repeat(63));
  assert.equal(configOf(["--cluster=0-edge-9"]).cluster, "0-edge-9");
  for (const name of ["a".repeat(64), "Edge", "edge_1", "-edge", "edge-", "", "edge.1"]) {
    const error = expectConfigError(() => configOf([`--cluster=${name}`]));
    assert.equal(error.problems[0].key, "agent.cluster", name);
    assert.equal(error.problems[0].source, "flag --cluster", name);
  }
});

Deno.test("agent config: required URLs with defaults can still be blanked, and that is reported", () => {
  const error = expectConfigError(() =>
    configOf(["--server-url="], { OTTERSCALE_AGENT_TUNNEL_SERVER_URL: "" })
  );
  assert.deepEqual(error.problems.map((p) => p.key), ["agent.server_url", "agent.tunnel.server_url"]);
  assert.match(error.message, /agent\.server_url: required but flag --server-url is empty/);
});

Deno.test("agent config: the enrolment token is marked secret, so errors never echo it", () => {
  const secrets = AGENT_SCHEMA.keys.filter((entry) => entry.secret).map((entry) => entry.key);
  assert.deepEqual(secrets, ["agent.enrolment_token"]);
});

Deno.test("agent config: the server section of a shared file is ignored without warnings", () => {
  const result = loadAgentConfig([], {
    env: envOf({}),
    readFile: filesOf({
      "/etc/otterscale/config.yaml": "server:\n  address: ':1'\nagent:\n  cluster: edge-2\n",
    }),
  });
  assert.equal(result.kind, "config");
  if (result.kind !== "config") return;
  assert.equal(result.config.cluster, "edge-2");
  assert.deepEqual(result.warnings, []);
});

Deno.test("agent config: --version and --help", () => {
  assert.deepEqual(loadAgentConfig(["--version"]), { kind: "version", text: `otterscale-agent ${VERSION}` });
  const help = loadAgentConfig(["-h"]);
  assert.equal(help.kind, "help");
  if (help.kind !== "help") return;
  assert.ok(help.text.includes("env: OTTERSCALE_AGENT_KUBECONFIG, then KUBECONFIG"));
  assert.ok(help.text.includes("--bootstrap, --no-bootstrap"));
  for (const entry of AGENT_SCHEMA.keys) assert.ok(help.text.includes(envName(entry.key)), entry.key);
});
