/**
 * Prometheus metrics for `GET /metrics`: per-RPC counters and latency
 * histograms, and process gauges that work under narrow permissions.
 *
 * prom-client's default process collector reads /proc/self, which Deno only
 * allows with -A, and then silently reports 0 (deno-lab §7); the gauges here
 * use Deno's own APIs instead.
 */
import type { Interceptor } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { callWithEnd } from "./call_end.ts";
import { protocolOf } from "./protocol.ts";

export interface HubMetrics {
  registry: Registry;
  rpcInterceptor: Interceptor;
}

const processStartSeconds = Date.now() / 1000;

export function createHubMetrics(): HubMetrics {
  const registry = new Registry();
  registerProcessGauges(registry);
  return { registry, rpcInterceptor: createRpcInterceptor(registry) };
}

function registerProcessGauges(registry: Registry): void {
  new Gauge({
    name: "process_resident_memory_bytes",
    help: "Resident memory size in bytes.",
    registers: [registry],
    collect() {
      this.set(Deno.memoryUsage().rss);
    },
  });
  new Gauge({
    name: "process_heap_used_bytes",
    help: "JavaScript heap in use, in bytes.",
    registers: [registry],
    collect() {
      this.set(Deno.memoryUsage().heapUsed);
    },
  });
  new Gauge({
    name: "process_start_time_seconds",
    help: "Start time of the process since the Unix epoch, in seconds.",
    registers: [registry],
    collect() {
      this.set(processStartSeconds);
    },
  });
  new Gauge({
    name: "process_cpu_seconds_total",
    help: "User and system CPU time spent, in seconds.",
    registers: [registry],
    collect() {
      const { user, system } = process.cpuUsage();
      this.set((user + system) / 1e6);
    },
  });
}

/**
 * Counts and times every RPC by service, method, protocol and code. Label
 * values come only from procedures the router knows and from fixed sets, so
 * cardinality stays bounded (the reference labelled by client port).
 */
function createRpcInterceptor(registry: Registry): Interceptor {
  const labelNames = ["service", "method", "protocol", "code"] as const;
  const requests = new Counter({
    name: "otterscale_rpc_requests_total",
    help: "RPCs handled, by service, method, protocol and result code.",
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "otterscale_rpc_duration_seconds",
    help: "RPC duration until the response (unary) or the end of the stream, in seconds.",
    labelNames,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  const inFlight = new Gauge({
    name: "otterscale_rpc_in_flight",
    help: "RPCs in progress, by service and method.",
    labelNames: ["service", "method"] as const,
    registers: [registry],
  });

  return (next) => (req) => {
    const service = req.service.typeName;
    const method = req.method.name;
    const protocol = protocolOf(req.header.get("content-type"));
    const started = performance.now();
    inFlight.inc({ service, method });
    const finish = (error: unknown) => {
      const code = error === undefined ? "ok" : codeName(ConnectError.from(error).code);
      const labels = { service, method, protocol, code };
      requests.inc(labels);
      duration.observe(labels, (performance.now() - started) / 1000);
      inFlight.dec({ service, method });
    };
    return callWithEnd(next, req, finish);
  };
}

export function codeName(code: Code): string {
  // Code[Code.NotFound] is "NotFound"; Prometheus users expect gRPC's snake case.
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}
