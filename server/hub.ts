/**
 * The hub's public side assembled from its parts: the one-port listener, the
 * request pipeline (CORS, metrics, access log, auth) and the services.
 * main.ts turns configuration into HubOptions; tests and benchmarks call
 * startHub directly.
 */
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import type { Logger } from "../shared/log.ts";
import { type Ca, issueServerCert } from "../shared/pki/mod.ts";
import { VERSION } from "../shared/version.ts";
import { ClusterAccess } from "./clusters/kube.ts";
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
import { DiscoveryCache } from "./clusters/discovery.ts";
import { registerResourceService } from "./services/resource.ts";
import { registerRuntimeService } from "./services/runtime.ts";
import { apiFiles } from "./api_files.ts";
import { createEnrolment } from "./tunnel/enrolment.ts";
import { createEnrolmentTokenKey } from "./tunnel/enrolment_token.ts";
import { createAgentManifests } from "./manifest/agent_manifests.ts";
import { createManifestTokenKey } from "./manifest/manifest_token.ts";
import { manifestRoute } from "./manifest/manifest_route.ts";
import { listenTunnel } from "./tunnel/listener.ts";
import { registerTunnelMetrics } from "./tunnel/metrics.ts";

export interface HubOptions {
  address: ListenAddress;
  allowedOrigins: readonly string[];
  verifier: TokenVerifier;
  health: HealthState;
  log: Logger;
  /** When set, GET /metrics needs `Authorization: Bearer <metricsToken>`. */
  metricsToken?: string;
  tunnel: TunnelOptions;
  /** The hub's public URL, put into agent manifests; without it GetAgentManifest is unavailable. */
  externalUrl?: URL;
}

export interface TunnelOptions {
  address: ListenAddress;
  ca: Ca;
  /** What agents dial; its host goes into the tunnel certificate. */
  externalUrl: URL;
  certificateLifetimeMs: number;
  keepAliveIntervalMs?: number;
}

export interface Hub {
  address: ListenAddress;
  tunnelAddress: ListenAddress;
  clusters: ClusterRegistry;
  access: ClusterAccess;
  /** Stops accepting, ends streams, lets unary calls finish for up to `timeoutMs`, then closes everything. */
  shutdown(timeoutMs: number): Promise<void>;
}

export async function startHub(options: HubOptions): Promise<Hub> {
  const clusters = new ClusterRegistry();
  const access = new ClusterAccess(clusters);
  const metrics = createHubMetrics();
  const tunnelMetrics = registerTunnelMetrics(metrics.registry, clusters);
  const enrolmentTokenKey = await createEnrolmentTokenKey(options.tunnel.ca);
  const enrolment = createEnrolment({
    ca: options.tunnel.ca,
    tokenKey: enrolmentTokenKey,
    externalTunnelUrl: options.tunnel.externalUrl,
    certificateLifetimeMs: options.tunnel.certificateLifetimeMs,
    serverVersion: VERSION,
    log: options.log.with({ component: "enrolment" }),
    onResult: tunnelMetrics.countRegistration,
  });
  const manifests = options.externalUrl
    ? createAgentManifests({
      enrolmentTokenKey,
      manifestTokenKey: await createManifestTokenKey(options.tunnel.ca),
      externalUrl: options.externalUrl,
      externalTunnelUrl: options.tunnel.externalUrl,
      version: VERSION,
      log: options.log.with({ component: "manifest" }),
    })
    : undefined;
  const drain = createDrain();
  const processEnd = new AbortController();

  // Outermost first: a call refused while draining is still counted and logged.
  const interceptors: Interceptor[] = [
    metrics.rpcInterceptor,
    createAccessLogInterceptor(options.log),
    drain.interceptor,
    createAuthInterceptor(options.verifier),
  ];
  // One cache for both services: a cluster's discovery is fetched once, and refreshed once when it reconnects.
  const discovery = new DiscoveryCache({
    access,
    clusters,
    log: options.log.with({ component: "discovery" }),
  });
  const routes = (router: ConnectRouter) => {
    registerFleetService(router, { clusters, enrolment, manifests });
    registerResourceService(router, {
      access,
      clusters,
      discovery,
      log: options.log.with({ component: "resource" }),
    });
    registerRuntimeService(router, {
      access,
      clusters,
      discovery,
      log: options.log.with({ component: "runtime" }),
      metrics: metrics.registry,
      shutdownSignal: processEnd.signal,
    });
    registerHealth(router, options.health);
    registerReflection(router, apiFiles);
  };
  const handler = createRequestHandler({
    cors: { allowedOrigins: options.allowedOrigins },
    routes,
    interceptors,
    metrics: { registry: metrics.registry, bearerToken: options.metricsToken },
    plainRoutes: manifests ? [manifestRoute(manifests)] : [],
    shutdownSignal: processEnd.signal,
  });
  const tunnel = await listenTunnel({
    address: options.tunnel.address,
    ca: options.tunnel.ca,
    serverCert: await issueServerCert({
      ca: options.tunnel.ca,
      hosts: [
        options.tunnel.externalUrl.hostname.replace(/^\[(.*)\]$/, "$1"),
        options.tunnel.address.hostname,
      ],
    }),
    clusters,
    log: options.log.with({ component: "tunnel" }),
    keepAliveIntervalMs: options.tunnel.keepAliveIntervalMs,
  });
  const listener = await listenPublic(options.address, handler);
  options.log.info("hub listening", { address: `${listener.address.hostname}:${listener.address.port}` });

  return {
    address: listener.address,
    tunnelAddress: tunnel.address,
    clusters,
    access,
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
      await tunnel.close();
      options.log.info("shut down");
    },
  };
}
