/**
 * Starts the real agent program the way users do (`deno task agent`, with its
 * production permission flags) for one test-bed cluster.
 */
import { type RunningProcess, spawnProcess } from "./process.ts";
import { repoRoot, taskArgv } from "./repo.ts";

export interface AgentProcessOptions {
  cluster: string;
  hubUrl: string;
  tunnelPort: number;
  kubeconfig: string;
  enrolmentToken: string;
  extraArgs?: string[];
  echo?: boolean;
}

export async function startAgentProcess(options: AgentProcessOptions): Promise<RunningProcess> {
  const process = spawnProcess([
    ...taskArgv("agent"),
    `--cluster=${options.cluster}`,
    `--server-url=${options.hubUrl}`,
    `--tunnel-server-url=https://127.0.0.1:${options.tunnelPort}`,
    `--kubeconfig=${options.kubeconfig}`,
    `--enrolment-token=${options.enrolmentToken}`,
    "--no-bootstrap",
    ...(options.extraArgs ?? []),
  ], { cwd: repoRoot, echo: options.echo });
  await process.waitForLine((l) => l.includes('"msg":"tunnel up"'), 60_000);
  return process;
}
