/**
 * The executables embed an esbuild bundle of each program (`deno compile --bundle`), and the
 * runtime they need cannot be downloaded here. This runs the same kind of bundle, made by
 * `deno bundle`, with the tasks' production permission flags: a bundled hub and a bundled agent
 * enrol, connect their tunnel and answer a call with a real Keycloak token. What a bundle drops
 * (a dynamic import or require the bundler cannot see) fails here first.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { createEnrolmentTokenKey, mintEnrolmentToken } from "../../server/tunnel/enrolment_token.ts";
import { FleetService } from "../../shared/gen/otterscale/fleet/v1/fleet_pb.ts";
import { loadOrCreateCa } from "../../shared/pki/mod.ts";
import { passwordGrant } from "../testbed/keycloak/password_grant.ts";
import { ensureTestbed } from "../testbed/testbed.ts";
import { waitForAgentConnected } from "../support/hub_process.ts";
import { type RunningProcess, spawnProcess } from "../support/process.ts";
import { denoLauncher, repoRoot } from "../support/repo.ts";
import { parseTask } from "../../scripts/compile.ts";

const tasks: Record<string, string> = JSON.parse(Deno.readTextFileSync(join(repoRoot, "deno.json"))).tasks;

async function bundle(entry: string, output: string): Promise<void> {
  const result = await new Deno.Command(denoLauncher, {
    args: ["bundle", "--platform", "deno", "--output", output, entry],
    cwd: repoRoot,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(result.success, `deno bundle ${entry}:\n${new TextDecoder().decode(result.stderr)}`);
}

/** `deno run <the task's flags> <bundle> <args>`, from the repository root like the task. */
function runBundle(task: string, bundleFile: string, args: string[]): RunningProcess {
  const { flags } = parseTask(task, tasks[task]);
  return spawnProcess([denoLauncher, "run", ...flags, bundleFile, ...args], { cwd: repoRoot });
}

function portOf(line: string): number {
  const address: string = JSON.parse(line).address;
  return Number(address.slice(address.lastIndexOf(":") + 1));
}

Deno.test("bundled hub and agent run with the production flags: enrol, tunnel, ListClusters", async () => {
  const testbed = await ensureTestbed();
  const alpha = testbed.clusters.find((c) => c.name === "alpha")!;
  const dir = await Deno.makeTempDir({ prefix: "otterscale-bundles-" });
  const caDir = join(".otterscale", "test", crypto.randomUUID(), "ca");
  const processes: RunningProcess[] = [];
  try {
    await bundle("server/main.ts", join(dir, "server.js"));
    await bundle("agent/main.ts", join(dir, "agent.js"));

    const version = runBundle("server", join(dir, "server.js"), ["--version"]);
    assert.equal(await version.exited, 0);
    assert.match(version.lines.join("\n"), /^otterscale-server \d+\.\d+\.\d+/);

    const hub = runBundle("server", join(dir, "server.js"), [
      "--address=127.0.0.1:0",
      "--tunnel-address=127.0.0.1:0",
      `--tunnel-ca-dir=${caDir}`,
      "--allowed-origins=http://allowed.example",
      `--keycloak-realm-url=${testbed.keycloak.realmUrl}`,
      "--external-url=http://127.0.0.1:8299",
      "--external-tunnel-url=https://127.0.0.1:8300",
    ]);
    processes.push(hub);
    const tunnelPort = portOf(await hub.waitForLine((l) => l.includes('"msg":"tunnel listening"'), 30_000));
    const hubPort = portOf(await hub.waitForLine((l) => l.includes('"msg":"hub listening"'), 30_000));
    await hub.waitForLine((l) => l.includes('"msg":"identity provider ready"'), 30_000);

    const key = await createEnrolmentTokenKey(await loadOrCreateCa(join(repoRoot, caDir)));
    const agent = runBundle("agent", join(dir, "agent.js"), [
      "--cluster=alpha",
      `--server-url=http://127.0.0.1:${hubPort}`,
      `--tunnel-server-url=https://127.0.0.1:${tunnelPort}`,
      `--kubeconfig=${alpha.agentKubeconfig}`,
      `--enrolment-token=${await mintEnrolmentToken(key, { cluster: "alpha" })}`,
      "--no-bootstrap",
    ]);
    processes.push(agent);
    await agent.waitForLine((l) => l.includes('"msg":"tunnel up"'), 60_000);
    await waitForAgentConnected(hub, "alpha", 0);

    const alice = testbed.users.find((u) => u.username === "alice")!;
    const token = (await passwordGrant(testbed.keycloak, alice.username, alice.password)).access_token;
    const fleet = createClient(
      FleetService,
      createConnectTransport({ baseUrl: `http://127.0.0.1:${hubPort}`, httpVersion: "1.1" }),
    );
    const { clusters } = await fleet.listClusters({}, { headers: { authorization: `Bearer ${token}` } });
    assert.deepEqual(clusters.map((c) => c.name), ["alpha"]);

    assert.equal(await agent.stop(), 0, agent.lines.join("\n"));
    assert.equal(await hub.stop(), 0, hub.lines.join("\n"));
  } finally {
    await Promise.all(processes.map((p) => p.stop()));
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(join(repoRoot, caDir, ".."), { recursive: true }).catch(() => {});
  }
});
