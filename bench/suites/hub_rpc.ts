/**
 * Sequential small calls to the hub process over each protocol and HTTP
 * version: what a client pays per call on loopback, JWT verification
 * included (ListClusters) and not (health Check).
 *
 * The calling client runs in a process of its own, with the V8 flags of the
 * hub's task. connect-node in Deno builds each call from a chain of async
 * generators whose garbage V8 promotes out of the young generation; with the
 * default (growing to 16 MiB) semi-space, every scavenge then stops the
 * process for 10–30 ms, in the client as in the hub (measured with
 * --trace-gc). Left at the defaults, the client's own pauses made up much of
 * the p99 this suite reports for the hub. A browser or a Go client does not
 * have them. A second client with V8's defaults runs against the same hub, so
 * the table shows both side by side.
 */
import { createClient, type Transport } from "@connectrpc/connect";
import {
  createConnectTransport,
  createGrpcTransport,
  createGrpcWebTransport,
} from "@connectrpc/connect-node";
import { generateTestKey, TestIssuer } from "../../server/auth/test_issuer.ts";
import { Health } from "../../shared/gen/grpc/health/v1/health_pb.ts";
import { FleetService } from "../../shared/gen/otterscale/fleet/v1/fleet_pb.ts";
import { startHubProcess } from "../../tests/support/hub_process.ts";
import { taskArgv } from "../../tests/support/repo.ts";
import { claimsFor } from "../../tests/support/tokens.ts";
import { type LatencySummary, summarize, timeSequential } from "../stats.ts";
import type { BenchRow } from "../table.ts";

const calls = 2_000;
const warmup = 300;

export async function benchHubRpc(): Promise<BenchRow[]> {
  await using issuer = new TestIssuer();
  const key = await generateTestKey("ES256", "bench");
  issuer.published = [key];
  const hub = await startHubProcess({ issuerUrl: issuer.url });
  const token = await issuer.sign(key, claimsFor("bench", ["platform-admins"], 3600));
  try {
    const hubV8Flags = taskArgv("server").filter((arg) => arg.startsWith("--v8-flags="));
    return [...await runClient(hub.url, token, hubV8Flags), ...await runClient(hub.url, token, [])];
  } finally {
    await hub.stop();
  }
}

/** Runs this file as the client process and reads its rows from stdout. */
async function runClient(url: string, token: string, v8Flags: string[]): Promise<BenchRow[]> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", ...v8Flags, import.meta.filename!, url, token],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error(`hub-rpc client exited with ${output.code}`);
  const rows: BenchRow[] = JSON.parse(new TextDecoder().decode(output.stdout));
  const setting = v8Flags.length > 0 ? v8Flags.join(" ") : "V8 defaults";
  return rows.map((r) => ({ ...r, values: { ...r.values, client: setting } }));
}

async function measure(url: string, token: string): Promise<BenchRow[]> {
  const headers = { authorization: `Bearer ${token}` };
  const transports: [string, Transport][] = [
    ["connect, HTTP/1.1", createConnectTransport({ baseUrl: url, httpVersion: "1.1" })],
    ["connect, HTTP/2 (h2c)", createConnectTransport({ baseUrl: url, httpVersion: "2" })],
    ["grpc, HTTP/2 (h2c)", createGrpcTransport({ baseUrl: url })],
    ["grpc-web, HTTP/1.1", createGrpcWebTransport({ baseUrl: url, httpVersion: "1.1" })],
  ];
  const rows: BenchRow[] = [];
  for (const [name, transport] of transports) {
    const fleet = createClient(FleetService, transport);
    const health = createClient(Health, transport);
    const listClusters = summarize(
      await timeSequential(() => fleet.listClusters({}, { headers }), calls, warmup),
    );
    const check = summarize(await timeSequential(() => health.check({ service: "" }), calls, warmup));
    rows.push(row(`${name}: ListClusters (JWT verified)`, listClusters));
    rows.push(row(`${name}: Health.Check (public)`, check));
  }
  return rows;
}

function row(name: string, s: LatencySummary): BenchRow {
  return {
    suite: "hub-rpc",
    name,
    values: { calls: String(s.count), p50_ms: s.p50Ms, p90_ms: s.p90Ms, p99_ms: s.p99Ms, max_ms: s.maxMs },
  };
}

if (import.meta.main) {
  const [url, token] = Deno.args;
  console.log(JSON.stringify(await measure(url, token)));
  // Pooled HTTP/2 sessions would keep the process alive.
  Deno.exit(0);
}
