/**
 * The hub's public side assembled from its parts: the one-port listener, the
 * request pipeline (CORS, metrics, access log, auth) and the services.
 * main.ts turns configuration into HubOptions; tests and benchmarks call
 * startHub directly.
 */
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import type { Logger } from "../shared/log.ts";
import { ClusterRegistry } from "./clusters/registry.ts";
import { createAccessLogInterceptor } from "./http/access_log.ts";
import { createAuthInterceptor, type TokenVerifier } from "./http/auth_interceptor.ts";
import { createDrain } from "./http/drain.ts";
import { type HealthState, registerHealth } from "./http/health.ts";
import { type ListenAddress, listenPublic } from "./http/listener.ts";
import { createHubMetrics } from "./http/metrics.ts";
import { registerReflection } from "./http/reflection.ts";
import { createRequestHandler } from "./http/request_handler.ts";
import { registerFleetService } from "./services/fleet.ts";
import { registerResourceService } from "./services/resource.ts";
import { registerRuntimeService } from "./services/runtime.ts";
import { apiFiles } from "./api_files.ts";

export interface HubOptions {
  address: ListenAddress;
  allowedOrigins: readonly string[];
  verifier: TokenVerifier;
  health: HealthState;
  log: Logger;
  /** When set, GET /metrics needs `Authorization: Bearer <metricsToken>`. */
  metricsToken?: string;
}

export interface Hub {
  address: ListenAddress;
  clusters: ClusterRegistry;
  /** Stops accepting, ends streams, lets unary calls finish for up to `timeoutMs`, then closes everything. */
  shutdown(timeoutMs: number): Promise<void>;
}

export async function startHub(options: HubOptions): Promise<Hub> {
  const clusters = new ClusterRegistry();
  const metrics = createHubMetrics();
  const drain = createDrain();
  const processEnd = new AbortController();

  // Outermost first: a call refused while draining is still counted and logged.
  const interceptors: Interceptor[] = [
    metrics.rpcInterceptor,
    createAccessLogInterceptor(options.log),
    drain.interceptor,
    createAuthInterceptor(options.verifier),
  ];
  const routes = (router: ConnectRouter) => {
    registerFleetService(router, { clusters });
    registerResourceService(router);
    registerRuntimeService(router);
    registerHealth(router, options.health);
    registerReflection(router, apiFiles);
  };
  const handler = createRequestHandler({
    cors: { allowedOrigins: options.allowedOrigins },
    routes,
    interceptors,
    metrics: { registry: metrics.registry, bearerToken: options.metricsToken },
    shutdownSignal: processEnd.signal,
  });
  const listener = await listenPublic(options.address, handler);
  options.log.info("hub listening", { address: `${listener.address.hostname}:${listener.address.port}` });

  return {
    address: listener.address,
    clusters,
    async shutdown(timeoutMs) {
      options.log.info("shutting down", { unary_grace_ms: timeoutMs });
      const deadline = Date.now() + timeoutMs;
      listener.stopAccepting();
      // Streams end with `unavailable` first, so that watchers (health Watch
      // included) learn the hub is going rather than seeing a clean end.
      drain.begin();
      options.health.shutdown();
      const drained = await drain.unaryDone(timeoutMs);
      if (!drained) options.log.warn("unary calls still running after the grace period; ending them");
      // A short, bounded moment for final frames and trailers to leave.
      await listener.close(Math.max(0, Math.min(2_000, deadline - Date.now())));
      processEnd.abort();
      options.log.info("shut down");
    },
  };
}
