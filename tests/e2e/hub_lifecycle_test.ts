/** The hub process's life: bad configuration, and a graceful SIGTERM. */
import assert from "node:assert/strict";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health } from "../../shared/gen/grpc/health/v1/health_pb.ts";
import { generateTestKey, TestIssuer } from "../../server/auth/test_issuer.ts";
import { startHubProcess } from "../support/hub_process.ts";
import { spawnProcess } from "../support/process.ts";
import { repoRoot, taskArgv } from "../support/repo.ts";
import { join } from "node:path";

Deno.test("missing required configuration is reported at once, with exit code 2", async () => {
  const process = spawnProcess(taskArgv("server"), {
    cwd: repoRoot,
    env: { OTTERSCALE_SERVER_EXTERNAL_URL: "" },
  });
  const code = await process.exited;
  const output = process.lines.join("\n");
  assert.deepEqual(code, 2, output);
  for (
    const flag of ["--allowed-origins", "--keycloak-realm-url", "--external-url", "--external-tunnel-url"]
  ) {
    assert.ok(output.includes(flag), `${flag} named in:\n${output}`);
  }
});

Deno.test("a bad value names its key and where it came from, with exit code 2", async () => {
  const process = spawnProcess([...taskArgv("server"), "--address=127.0.0.1:notaport"], { cwd: repoRoot });
  assert.deepEqual(await process.exited, 2);
  const output = process.lines.join("\n");
  assert.match(output, /--address/);
  assert.match(output, /notaport/);
});

Deno.test("a config.yaml is read under the production permissions, below flags and env", async () => {
  const dir = join(".otterscale", "test", crypto.randomUUID());
  await Deno.mkdir(join(repoRoot, dir), { recursive: true });
  const file = join(dir, "config.yaml");
  await Deno.writeTextFile(
    join(repoRoot, file),
    [
      "server:",
      "  allowed_origins: [https://console.example.com]",
      "  keycloak:",
      "    realm_url: http://127.0.0.1:1/realms/test",
      "  external_url: https://otterscale.example.com",
      "  external_tunnel_url: https://tunnel.example.com:8300",
      "  address: 127.0.0.1:notaport-from-file",
      "",
    ].join("\n"),
  );
  // The file's bad address is reported with its source: the file was read.
  const fromFile = spawnProcess([...taskArgv("server"), `--config=${file}`], { cwd: repoRoot });
  assert.equal(await fromFile.exited, 2);
  assert.match(fromFile.lines.join("\n"), /config\.yaml:7/);
  // A flag overrides the file, and the rest of the file completes the configuration.
  const hub = spawnProcess([
    ...taskArgv("server"),
    `--config=${file}`,
    "--address=127.0.0.1:0",
    "--tunnel-address=127.0.0.1:0",
    `--tunnel-ca-dir=${join(dir, "ca")}`,
  ], { cwd: repoRoot });
  try {
    await hub.waitForLine((l) => l.includes('"msg":"hub listening"'), 30_000);
  } finally {
    await hub.stop();
  }
});

Deno.test("--help and --version answer without configuration", async () => {
  const help = spawnProcess([...taskArgv("server"), "--help"], { cwd: repoRoot });
  assert.deepEqual(await help.exited, 0);
  assert.match(help.lines.join("\n"), /OTTERSCALE_SERVER_KEYCLOAK_REALM_URL/);
  const version = spawnProcess([...taskArgv("server"), "--version"], { cwd: repoRoot });
  assert.deepEqual(await version.exited, 0);
  assert.match(version.lines.join("\n"), /otterscale-server/);
});

Deno.test("SIGTERM ends open streams with unavailable and the process exits 0", async () => {
  await using issuer = new TestIssuer();
  issuer.published = [await generateTestKey("ES256", "k")];
  const hub = await startHubProcess({ issuerUrl: issuer.url });
  const client = createClient(Health, createGrpcTransport({ baseUrl: hub.url, idleConnectionTimeoutMs: 1 }));
  const watch = client.watch({ service: "" })[Symbol.asyncIterator]();
  try {
    const first = await watch.next();
    assert(!first.done);

    const started = performance.now();
    hub.child.kill("SIGTERM");
    const ended = await (async () => {
      try {
        while (!(await watch.next()).done) { /* status updates until the end */ }
        return undefined;
      } catch (error) {
        return ConnectError.from(error);
      }
    })();
    assert(ended, "the stream ended with an error");
    assert.equal(ended?.code, Code.Unavailable, ended?.message);

    const code = await hub.exited;
    assert.deepEqual(code, 0, hub.lines.join("\n"));
    assert(performance.now() - started < 15_000, "shutdown finished within its bound");
    const refused = await fetch(`${hub.url}/metrics`).then(() => false, () => true);
    assert(refused, "the port no longer accepts connections");
  } finally {
    await hub.stop("SIGKILL");
  }
});
