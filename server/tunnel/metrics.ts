/** Metrics of the tunnels: who is connected, how busy, how often they come back. */
import { Counter, Gauge, type Registry } from "prom-client";
import type { ClusterRegistry } from "../clusters/registry.ts";

export type RegistrationResult = "issued" | "renewed" | "refused" | "invalid";

export interface TunnelMetrics {
  countRegistration(result: RegistrationResult): void;
}

export function registerTunnelMetrics(registry: Registry, clusters: ClusterRegistry): TunnelMetrics {
  const live = () => clusters.list().map((c) => c.tunnel.stats());
  new Gauge({
    name: "otterscale_tunnel_connected_agents",
    help: "Agents with a live tunnel.",
    registers: [registry],
    collect() {
      this.set(clusters.list().length);
    },
  });
  new Gauge({
    name: "otterscale_tunnel_open_streams",
    help: "Streams open on all tunnels.",
    registers: [registry],
    collect() {
      this.set(live().reduce((sum, s) => sum + s.openStreams, 0));
    },
  });
  // Counters computed from totals kept by the registry and the live sessions:
  // the sessions count their own bytes, so the metric is set, not incremented.
  new Counter({
    name: "otterscale_tunnel_bytes_total",
    help: "Bytes carried by tunnels (frame headers included), by direction as seen from the hub.",
    labelNames: ["direction"] as const,
    registers: [registry],
    collect() {
      const sessions = live();
      this.reset();
      this.inc(
        { direction: "in" },
        clusters.totals.closedBytesIn + sessions.reduce((s, x) => s + x.bytesIn, 0),
      );
      this.inc(
        { direction: "out" },
        clusters.totals.closedBytesOut + sessions.reduce((s, x) => s + x.bytesOut, 0),
      );
    },
  });
  new Counter({
    name: "otterscale_tunnel_reconnects_total",
    help: "Tunnels attached for a cluster that had been connected before.",
    registers: [registry],
    collect() {
      this.reset();
      this.inc(clusters.totals.reconnects);
    },
  });
  const registrations = new Counter({
    name: "otterscale_agent_registrations_total",
    help: "Register calls by result: issued, renewed, refused (bad credentials), invalid (bad request).",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  for (const result of ["issued", "renewed", "refused", "invalid"]) registrations.inc({ result }, 0);
  return { countRegistration: (result) => registrations.inc({ result }) };
}
