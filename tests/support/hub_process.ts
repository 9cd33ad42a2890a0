/**
 * Starts the real hub program the way users do (`deno task server`, with its
 * production permission flags) and finds the port it bound.
 */
import { join } from "node:path";
import { until } from "./expect.ts";
import { type RunningProcess, spawnProcess } from "./process.ts";
import { repoRoot, taskArgv } from "./repo.ts";

export interface HubProcess extends RunningProcess {
  /** e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  tunnelPort: number;
  /** Repository-relative. */
  caDir: string;
}

export interface HubProcessOptions {
  issuerUrl: string;
  /** Wait until the hub has reached the issuer (default true). */
  waitForIssuer?: boolean;
  allowedOrigins?: string;
  /** Listen here instead of on a free port. */
  fixedAddress?: string;
  /** Tunnel port instead of a free one (a restarted hub keeps its port). */
  tunnelPort?: number;
  /** Repository-relative CA directory; a fresh one per hub by default. */
  caDir?: string;
  /** Copy the hub's log lines to this process's stderr. */
  echo?: boolean;
  extraArgs?: string[];
}

export async function startHubProcess(options: HubProcessOptions): Promise<HubProcess> {
  // The CA dir must be inside what the server task may read and write.
  const caDir = options.caDir ?? join(".otterscale", "test", crypto.randomUUID(), "ca");
  const args = [
    `--address=${options.fixedAddress ?? "127.0.0.1:0"}`,
    `--tunnel-address=127.0.0.1:${options.tunnelPort ?? 0}`,
    `--tunnel-ca-dir=${caDir}`,
    `--allowed-origins=${options.allowedOrigins ?? "http://allowed.example"}`,
    `--keycloak-realm-url=${options.issuerUrl}`,
    "--external-url=http://127.0.0.1:8299",
    `--external-tunnel-url=https://127.0.0.1:${options.tunnelPort ?? 8300}`,
    ...(options.extraArgs ?? []),
  ];
  const process = spawnProcess([...taskArgv("server"), ...args], { cwd: repoRoot, echo: options.echo });
  const tunnelLine = await process.waitForLine((l) => l.includes('"msg":"tunnel listening"'), 30_000);
  const tunnelAddress: string = JSON.parse(tunnelLine).address;
  const line = await process.waitForLine((l) => l.includes('"msg":"hub listening"'), 30_000);
  const address: string = JSON.parse(line).address;
  const port = Number(address.slice(address.lastIndexOf(":") + 1));
  if (options.waitForIssuer ?? true) {
    await process.waitForLine((l) => l.includes('"msg":"identity provider ready"'), 30_000);
  }
  const tunnelPort = Number(tunnelAddress.slice(tunnelAddress.lastIndexOf(":") + 1));
  return Object.assign(process, { url: `http://127.0.0.1:${port}`, port, tunnelPort, caDir });
}

/**
 * Resolves once the hub has logged `cluster`'s agent as connected in a line at index `fromLine` or later
 * (take `hub.lines.length` before starting the agent). The agent's own "tunnel up" is not enough: TLS 1.3
 * lets the client finish its handshake before the server has, so on a busy machine a request right after
 * "tunnel up" can still find the cluster not connected.
 */
export async function waitForAgentConnected(
  hub: RunningProcess,
  cluster: string,
  fromLine: number,
  timeoutMs = 30_000,
): Promise<void> {
  await until(`the hub to attach ${cluster}'s agent`, timeoutMs, () => {
    const attached = hub.lines.slice(fromLine).some((line) =>
      line.includes('"msg":"agent connected"') && JSON.parse(line).cluster === cluster
    );
    return Promise.resolve(attached ? true : undefined);
  });
}
