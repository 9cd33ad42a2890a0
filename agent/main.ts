/**
 * otterscale-agent: enrols this cluster with the hub and serves the hub's
 * requests through one mutual-TLS tunnel. Parses configuration, wires the
 * parts together and handles signals.
 */
import { ConfigError } from "../shared/config/mod.ts";
import { createLogger, type Logger } from "../shared/log.ts";
import { VERSION } from "../shared/version.ts";
import { runAgent } from "./agent.ts";
import { type AgentConfig, loadAgentConfig } from "./config.ts";
import { createEnrolmentClient } from "./enrol.ts";
import { loadKubeTarget } from "./kube_target.ts";
import { createKubeProxy } from "./proxy.ts";

async function main(args: string[]): Promise<number> {
  const config = loadConfigOrExit(args);
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
  });
  await proxy.close();
  log.info("stopped");
  return 0;
}

function loadConfigOrExit(args: string[]): AgentConfig | number {
  try {
    const result = loadAgentConfig(args);
    if (result.kind !== "config") {
      console.log(result.text);
      return 0;
    }
    for (const warning of result.warnings) console.error(`warning: ${warning}`);
    return result.config;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    console.error("Run with --help to see every setting.");
    return 2;
  }
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
