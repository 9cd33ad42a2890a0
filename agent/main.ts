/**
 * otterscale-agent: enrols this cluster with the hub and serves the hub's
 * requests through one mutual-TLS tunnel. Parses configuration, wires the
 * parts together and handles signals.
 *
 * deno.json's agent task (and so the compiled binary) passes --max-semi-space-size=4, as the hub's does
 * (see server/main.ts): with V8's default young generation the agent's scavenges paused it for 5–15 ms
 * (p50 5.5, max 14.6 over 4,400 proxied Gets, --trace-gc), each one a tail latency for every call on the
 * tunnel; with 4 MiB they took 1.2 ms at the median and 5.4 at most.
 */
import { configOrExitCode } from "../shared/config/program_config.ts";
import { createLogger, type Logger } from "../shared/log.ts";
import { VERSION } from "../shared/version.ts";
import { runAgent } from "./agent.ts";
import { loadAgentConfig } from "./config.ts";
import { createEnrolmentClient } from "./enrol.ts";
import { loadKubeTarget } from "./kube_target.ts";
import { createKubeProxy } from "./proxy.ts";
import { createKubeClient } from "./kube_client.ts";
import { agentNamespace, createSelfUpdater } from "./self_update.ts";
import { backgroundBootstrap } from "./bootstrap/background.ts";
import { bootstrapCluster } from "./bootstrap/bootstrap.ts";
import { bootstrapBundle } from "./bootstrap/bundle.ts";

async function main(args: string[]): Promise<number> {
  const config = configOrExitCode(loadAgentConfig, args);
  if (typeof config === "number") return config;
  const log = createLogger(config.logLevel, { program: "otterscale-agent", cluster: config.cluster });
  // The pod name inside Kubernetes; it names this agent in its certificate.
  const agentId = Deno.hostname();
  log.info("starting", { version: VERSION, agent_id: agentId });

  let target;
  try {
    target = loadKubeTarget({ kubeconfigPath: config.kubeconfig || undefined });
  } catch (error) {
    log.error("cannot load credentials for the local kube-apiserver", { error: (error as Error).message });
    return 1;
  }
  const proxy = createKubeProxy({ target, log: log.with({ component: "proxy" }) });
  const stop = new AbortController();
  onSignals(log, () => stop.abort());
  // The agent's own requests to its apiserver, as its ServiceAccount: self-update and bootstrap.
  const kube = createKubeClient(target);
  const selfUpdate = createSelfUpdater({
    client: kube,
    namespace: agentNamespace(),
    agentVersion: VERSION,
    log: log.with({ component: "self-update" }),
  });
  const bootstrapLog = log.with({ component: "bootstrap" });
  const bootstrap = backgroundBootstrap(
    (signal) => bootstrapCluster({ client: kube, bundle: bootstrapBundle, log: bootstrapLog, signal }),
    bootstrapLog,
  );

  await runAgent({
    tunnelUrl: config.tunnel.serverUrl,
    enrolment: createEnrolmentClient({
      serverUrl: config.serverUrl,
      cluster: config.cluster,
      agentId,
      agentVersion: VERSION,
    }),
    enrolmentToken: config.enrolmentToken,
    serveStream: (stream) => proxy.serve(stream),
    log: log.with({ component: "tunnel" }),
    signal: stop.signal,
    onRegistered: (credentials) => void selfUpdate.check(credentials.serverVersion),
    onTunnelUp: config.bootstrap ? () => bootstrap.start() : undefined,
  });
  await bootstrap.stop();
  kube.close();
  await proxy.close();
  log.info("stopped");
  return 0;
}

function onSignals(log: Logger, stop: () => void): void {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    Deno.addSignalListener(signal, () => {
      log.info("signal received", { signal });
      stop();
    });
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
