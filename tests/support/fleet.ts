/**
 * A whole fleet for end-to-end tests: the test bed (clusters and Keycloak),
 * the hub process, and one agent process per cluster, enrolled with tokens
 * minted from the hub's own CA — everything real, started like users do.
 */
import { join } from "node:path";
import { loadOrCreateCa } from "../../shared/pki/mod.ts";
import { createEnrolmentTokenKey, mintEnrolmentToken } from "../../server/tunnel/enrolment_token.ts";
import { ensureTestbed, type TestbedState } from "../testbed/testbed.ts";
import { passwordGrant } from "../testbed/keycloak/password_grant.ts";
import { startAgentProcess } from "./agent_process.ts";
import { type HubProcess, startHubProcess, waitForAgentConnected } from "./hub_process.ts";
import type { RunningProcess } from "./process.ts";
import { repoRoot } from "./repo.ts";

export interface Fleet {
  testbed: TestbedState;
  hub: HubProcess;
  agents: Map<string, RunningProcess>;
  /** A fresh Keycloak access token for a test-bed user (alice, bob, carol). */
  token(username: string): Promise<string>;
  enrolmentToken(cluster: string, ttlMs?: number): Promise<string>;
  startAgent(cluster: string, extraArgs?: string[]): Promise<RunningProcess>;
  /** Stops the hub and starts it again on the same ports and CA directory. */
  restartHub(): Promise<HubProcess>;
  close(): Promise<void>;
}

export interface FleetOptions {
  clusters?: string[];
  /** Extra flags for the hub, e.g. a short certificate lifetime. */
  hubArgs?: string[];
  /** Fixed ports and CA directory (the dev setup); free ports and a fresh CA by default. */
  hubAddress?: string;
  tunnelPort?: number;
  caDir?: string;
  echo?: boolean;
}

export async function startFleet(options: FleetOptions = {}): Promise<Fleet> {
  const testbed = await ensureTestbed();
  const clusterNames = options.clusters ?? testbed.clusters.map((c) => c.name);
  const tunnelPort = options.tunnelPort ?? freePort();
  const hubOptions = {
    issuerUrl: testbed.keycloak.realmUrl,
    tunnelPort,
    fixedAddress: options.hubAddress,
    caDir: options.caDir,
    extraArgs: options.hubArgs,
    echo: options.echo,
  };
  let hub = await startHubProcess(hubOptions);
  const caDir = hub.caDir;
  const agents = new Map<string, RunningProcess>();

  const enrolmentToken = async (cluster: string, ttlMs?: number) => {
    const key = await createEnrolmentTokenKey(await loadOrCreateCa(join(repoRoot, caDir)));
    return mintEnrolmentToken(key, { cluster, ttlMs });
  };
  const startAgent = async (cluster: string, extraArgs: string[] = []) => {
    const info = testbed.clusters.find((c) => c.name === cluster);
    if (!info) throw new Error(`the test bed has no cluster ${cluster}`);
    const fromLine = hub.lines.length;
    const agent = await startAgentProcess({
      cluster,
      hubUrl: hub.url,
      tunnelPort,
      kubeconfig: info.agentKubeconfig,
      enrolmentToken: await enrolmentToken(cluster),
      extraArgs,
      echo: options.echo,
    });
    agents.set(cluster, agent);
    await waitForAgentConnected(hub, cluster, fromLine);
    return agent;
  };

  try {
    for (const cluster of clusterNames) await startAgent(cluster);
  } catch (error) {
    await Promise.all([...agents.values()].map((a) => a.stop()));
    await hub.stop();
    throw error;
  }

  const fleet: Fleet = {
    testbed,
    get hub() {
      return hub;
    },
    agents,
    async token(username) {
      const user = testbed.users.find((u) => u.username === username);
      if (!user) throw new Error(`the test realm has no user ${username}`);
      return (await passwordGrant(testbed.keycloak, user.username, user.password)).access_token;
    },
    enrolmentToken,
    startAgent,
    async restartHub() {
      await hub.stop();
      hub = await startHubProcess({ ...hubOptions, caDir, fixedAddress: `127.0.0.1:${hub.port}` });
      return hub;
    },
    async close() {
      await Promise.all([...agents.values()].map((a) => a.stop()));
      await hub.stop();
    },
  };
  return fleet;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}
