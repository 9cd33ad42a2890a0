/**
 * otterscale-server: the hub. Parses configuration, wires the parts together
 * and handles signals; everything else lives in the modules it imports.
 *
 * Why deno.json's server task (and so the compiled binary) passes
 * --max-semi-space-size=4: connect-node runs each call through a chain of async
 * generators, and V8 promotes most of a call's garbage (~40 KB for a gRPC-Web
 * unary call, ~11 KB for Connect) out of the young generation, which then grows
 * to its 16 MiB default so that every scavenge copies megabytes: 10–30 ms pauses
 * every ~300 calls, the p99 of small gRPC calls. With 4 MiB the pauses are
 * ~2 ms for the same total GC time (--trace-gc over 8,000 calls).
 */
import { configOrExitCode } from "../shared/config/program_config.ts";
import { createLogger, type Logger } from "../shared/log.ts";
import { loadOrCreateCa } from "../shared/pki/mod.ts";
import { VERSION } from "../shared/version.ts";
import { startOidcVerifier } from "./auth/oidc_verifier.ts";
import { cacheVerifiedTokens } from "./auth/verified_token_cache.ts";
import { loadServerConfig } from "./config.ts";
import { HealthState, ServingStatus } from "./http/health.ts";
import { startHub } from "./hub.ts";

/** Services that need a verified user; they cannot serve while the issuer is unknown. */
const authenticatedServices = [
  "otterscale.fleet.v1.FleetService",
  "otterscale.resource.v1.ResourceService",
  "otterscale.runtime.v1.RuntimeService",
];

async function main(args: string[]): Promise<number> {
  const config = configOrExitCode(loadServerConfig, args);
  if (typeof config === "number") return config;
  const log = createLogger(config.logLevel, { program: "otterscale-server" });
  log.info("starting", { version: VERSION });

  // A CA that cannot be read stops the hub: silently making a new one would
  // cut off every enrolled agent (the reference's S9).
  const ca = await loadOrCreateCa(config.tunnel.caDir).catch((error) => {
    log.error("cannot load the tunnel CA", { dir: config.tunnel.caDir, error: error.message });
    return undefined;
  });
  if (!ca) return 1;
  log.info(ca.created ? "created a new tunnel CA" : "loaded the tunnel CA", { dir: config.tunnel.caDir });

  const verifier = startOidcVerifier({
    issuerUrl: config.keycloak.realmUrl.href.replace(/\/$/, ""),
    clientId: config.keycloak.clientId,
    log: (level, msg, fields) => log[level](msg, { component: "oidc", ...fields }),
  });
  const health = new HealthState([...authenticatedServices], ServingStatus.NOT_SERVING);
  const followIssuer = (ready: boolean, detail: string) => {
    const status = ready ? ServingStatus.SERVING : ServingStatus.NOT_SERVING;
    for (const service of ["", ...authenticatedServices]) health.set(service, status);
    if (ready) log.info("identity provider ready");
    else log.warn("identity provider not reachable yet; authenticated calls are refused", { detail });
  };
  verifier.onChange(({ ready, detail }) => followIssuer(ready, detail));
  followIssuer(verifier.readiness().ready, verifier.readiness().detail);

  const hub = await startHub({
    address: config.address,
    allowedOrigins: config.allowedOrigins,
    verifier: cacheVerifiedTokens(verifier),
    health,
    log,
    metricsToken: config.metricsToken || undefined,
    externalUrl: config.externalUrl,
    tunnel: {
      address: config.tunnel.address,
      ca,
      externalUrl: config.externalTunnelUrl,
      certificateLifetimeMs: config.tunnel.certificateLifetimeMs,
    },
  });

  await untilSignal(log);
  await hub.shutdown(config.shutdownTimeoutMs);
  await verifier.close();
  return 0;
}

function untilSignal(log: Logger): Promise<void> {
  return new Promise((resolve) => {
    const onSignal = (signal: Deno.Signal) => () => {
      log.info("signal received", { signal });
      Deno.removeSignalListener("SIGTERM", onTerm);
      Deno.removeSignalListener("SIGINT", onInt);
      resolve();
    };
    const onTerm = onSignal("SIGTERM");
    const onInt = onSignal("SIGINT");
    Deno.addSignalListener("SIGTERM", onTerm);
    Deno.addSignalListener("SIGINT", onInt);
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
