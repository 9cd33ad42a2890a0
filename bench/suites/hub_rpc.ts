/**
 * Sequential small calls to the hub process over each protocol and HTTP
 * version: what a client pays per call on loopback, JWT verification
 * included (ListClusters) and not (health Check).
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
import { claimsFor } from "../../tests/support/tokens.ts";
import { summarize, timeSequential } from "../stats.ts";
import type { BenchRow } from "../table.ts";

const calls = 2_000;
const warmup = 300;

export async function benchHubRpc(): Promise<BenchRow[]> {
  await using issuer = new TestIssuer();
  const key = await generateTestKey("ES256", "bench");
  issuer.published = [key];
  const hub = await startHubProcess({ issuerUrl: issuer.url });
  const token = await issuer.sign(key, claimsFor("bench", ["platform-admins"], 3600));
  const headers = { authorization: `Bearer ${token}` };
  const transports: [string, Transport][] = [
    ["connect, HTTP/1.1", createConnectTransport({ baseUrl: hub.url, httpVersion: "1.1" })],
    ["connect, HTTP/2 (h2c)", createConnectTransport({ baseUrl: hub.url, httpVersion: "2" })],
    ["grpc, HTTP/2 (h2c)", createGrpcTransport({ baseUrl: hub.url })],
    ["grpc-web, HTTP/1.1", createGrpcWebTransport({ baseUrl: hub.url, httpVersion: "1.1" })],
  ];
  const rows: BenchRow[] = [];
  try {
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
  } finally {
    await hub.stop();
  }
}

function row(name: string, s: ReturnType<typeof summarize>): BenchRow {
  return {
    suite: "hub-rpc",
    name,
    values: { calls: String(s.count), p50_ms: s.p50Ms, p90_ms: s.p90Ms, p99_ms: s.p99Ms, max_ms: s.maxMs },
  };
}
