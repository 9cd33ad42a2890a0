/**
 * Resource calls through the hub (client → hub → tunnel → agent →
 * kube-apiserver, as alice) against the same calls sent straight to the
 * apiserver with the test bed's admin certificate, in one run:
 * - a small Get, sequential (p50/p99, and what the hub adds);
 * - a List of 5,000 ConfigMaps (time to first byte, total, the hub's peak RSS);
 * - 1,000 concurrent Watch streams, each update's delivery latency.
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import * as https from "node:https";
import * as k8s from "@kubernetes/client-node";
import { ResourceService, WatchEvent_Type } from "../../shared/gen/otterscale/resource/v1/resource_pb.ts";
import { startFleet } from "../../tests/support/fleet.ts";
import { summarize, timeSequential } from "../stats.ts";
import type { BenchRow } from "../table.ts";

const cluster = "alpha";
const namespace = "bench-resource";
const listSize = 5_000;
const watchers = Number(Deno.env.get("BENCH_WATCHERS") ?? 1_000);
const watchUpdates = 20;

export async function benchResource(): Promise<BenchRow[]> {
  const fleet = await startFleet({ clusters: [cluster] });
  const admin = await directClient(fleet.testbed.clusters.find((c) => c.name === cluster)!.kubeconfig);
  const token = await fleet.token("alice");
  const headers = { authorization: `Bearer ${token}` };
  const rows: BenchRow[] = [];
  try {
    await prepareNamespace(admin);
    const hub = createClient(
      ResourceService,
      createConnectTransport({ baseUrl: fleet.hub.url, httpVersion: "1.1" }),
    );
    console.error("resource: get…");
    rows.push(...await benchGet(admin, hub, headers));
    console.error("resource: list of 5,000…");
    rows.push(...await benchList(admin, hub, headers, fleet.hub.child.pid));
    console.error(`resource: ${watchers} watches…`);
    const hubStreams = createClient(ResourceService, createGrpcTransport({ baseUrl: fleet.hub.url }));
    rows.push(...await benchWatch(admin, hubStreams, headers));
  } finally {
    await admin.request("DELETE", `/api/v1/namespaces/${namespace}`).catch(() => {});
    admin.close();
    await fleet.close();
  }
  return rows;
}

type HubClient = ReturnType<typeof createClient<typeof ResourceService>>;

interface DirectResponse {
  status: number;
  /** The body as it arrives. */
  body: AsyncIterable<Uint8Array>;
  /** Reads and discards the rest of the body. */
  drain(): Promise<number>;
}

interface DirectClient {
  request(method: string, path: string, body?: unknown, contentType?: string): Promise<DirectResponse>;
  /** A request whose body the caller reads until `signal` aborts. */
  stream(path: string, signal: AbortSignal): Promise<DirectResponse>;
  close(): void;
}

/**
 * node:https with the admin client certificate and a keep-alive pool: the
 * straight path, the way the agent itself talks to the apiserver. (Deno's
 * fetch with a custom client crashed the process when many watch bodies were
 * cancelled.)
 */
async function directClient(kubeconfig: string): Promise<DirectClient> {
  const config = new k8s.KubeConfig();
  config.loadFromFile(kubeconfig);
  const tls: https.AgentOptions = {};
  await config.applyToHTTPSOptions(tls);
  const agent = new https.Agent({ ...tls, keepAlive: true, maxSockets: Infinity });
  const server = new URL(config.getCurrentCluster()!.server);
  const send = (
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
    signal?: AbortSignal,
  ) =>
    new Promise<DirectResponse>((resolve, reject) => {
      const request = https.request({
        agent,
        host: server.hostname,
        port: server.port,
        method,
        path,
        signal,
        headers: body === undefined ? {} : { "content-type": contentType },
      }, (response) => {
        response.socket.setNoDelay(true);
        resolve({
          status: response.statusCode ?? 0,
          body: response,
          async drain() {
            let bytes = 0;
            for await (const chunk of response) bytes += chunk.length;
            return bytes;
          },
        });
      });
      request.on("error", reject);
      request.end(body === undefined ? undefined : JSON.stringify(body));
    });
  return {
    request: (method, path, body, contentType) => send(method, path, body, contentType),
    stream: (path, signal) => send("GET", path, undefined, undefined, signal),
    close: () => agent.destroy(),
  };
}

async function prepareNamespace(admin: DirectClient): Promise<void> {
  await (await admin.request("DELETE", `/api/v1/namespaces/${namespace}`)).drain();
  for (let i = 0; i < 120; i++) {
    const gone = await admin.request("GET", `/api/v1/namespaces/${namespace}`);
    await gone.drain();
    if (gone.status === 404) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  await (await admin.request("POST", "/api/v1/namespaces", { metadata: { name: namespace } })).drain();
  // alice (group platform-admins) may read and watch in this namespace.
  await (await admin.request(
    "POST",
    `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`,
    {
      metadata: { name: "bench-view" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "oidc:platform-admins" }],
    },
  )).drain();
  await (await admin.request("POST", `/api/v1/namespaces/${namespace}/configmaps`, {
    metadata: { name: "small" },
    data: { hello: "world" },
  })).drain();
}

async function benchGet(
  admin: DirectClient,
  hub: HubClient,
  headers: Record<string, string>,
): Promise<BenchRow[]> {
  const calls = 1_000;
  const warmup = 200;
  const direct = summarize(
    await timeSequential(
      async () => {
        const response = await admin.request("GET", `/api/v1/namespaces/${namespace}/configmaps/small`);
        await response.drain();
      },
      calls,
      warmup,
    ),
  );
  const viaHub = summarize(
    await timeSequential(
      () =>
        hub.get({ cluster, version: "v1", resource: "configmaps", namespace, name: "small" }, { headers }),
      calls,
      warmup,
    ),
  );
  return [
    row("get", "direct to kube-apiserver (admin cert)", { p50_ms: direct.p50Ms, p99_ms: direct.p99Ms }),
    row("get", "through hub, tunnel and agent (Connect, as alice)", {
      p50_ms: viaHub.p50Ms,
      p99_ms: viaHub.p99Ms,
      added_p50_ms: viaHub.p50Ms - direct.p50Ms,
      added_p99_ms: viaHub.p99Ms - direct.p99Ms,
    }),
  ];
}

async function benchList(
  admin: DirectClient,
  hub: HubClient,
  headers: Record<string, string>,
  hubPid: number,
): Promise<BenchRow[]> {
  await createConfigMaps(admin, listSize);
  const path = `/api/v1/namespaces/${namespace}/configmaps?labelSelector=bench%3Dlist`;
  const directStarted = performance.now();
  const response = await admin.request("GET", path);
  let directFirstByteMs = 0;
  let bytes = 0;
  for await (const chunk of response.body) {
    if (bytes === 0) directFirstByteMs = performance.now() - directStarted;
    bytes += chunk.length;
  }
  const directTotalMs = performance.now() - directStarted;

  const rssBefore = peakRssBytes(hubPid);
  const hubStarted = performance.now();
  // A unary RPC: the first byte is the whole answer.
  const listed = await hub.list({
    cluster,
    version: "v1",
    resource: "configmaps",
    namespace,
    labelSelector: "bench=list",
  }, {
    headers,
  });
  const hubTotalMs = performance.now() - hubStarted;
  if (listed.items.length !== listSize) throw new Error(`hub listed ${listed.items.length} of ${listSize}`);
  const rssAfter = peakRssBytes(hubPid);
  return [
    row("list-5000", "direct to kube-apiserver", {
      ttfb_ms: directFirstByteMs,
      total_ms: directTotalMs,
      body_mib: bytes / 2 ** 20,
    }),
    row("list-5000", "through hub (Connect unary)", {
      ttfb_ms: hubTotalMs,
      total_ms: hubTotalMs,
      hub_peak_rss_mib: rssAfter / 2 ** 20,
      hub_peak_rss_growth_mib: (rssAfter - rssBefore) / 2 ** 20,
    }),
  ];
}

async function createConfigMaps(admin: DirectClient, count: number): Promise<void> {
  const payload = "x".repeat(512);
  const batch = 50;
  for (let i = 0; i < count; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, count - i) }, async (_, j) => {
      const response = await admin.request("POST", `/api/v1/namespaces/${namespace}/configmaps`, {
        metadata: { name: `list-${i + j}`, labels: { bench: "list" } },
        data: { payload },
      });
      await response.drain();
    }));
  }
}

/** The process's peak resident set (VmHWM), from /proc. */
function peakRssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? "0");
  return kib * 1024;
}

async function benchWatch(
  admin: DirectClient,
  hub: HubClient,
  headers: Record<string, string>,
): Promise<BenchRow[]> {
  const name = "watched";
  await (await admin.request("POST", `/api/v1/namespaces/${namespace}/configmaps`, {
    metadata: { name, labels: { bench: "watch" } },
    data: { seq: "-1" },
  })).drain();
  const sentAt = new Map<string, number>();
  const hubLatencies: number[] = [];
  const directLatencies: number[] = [];
  const stop = new AbortController();
  const ready: Promise<void>[] = [];
  const failures: string[] = [];

  for (let i = 0; i < watchers; i++) {
    let markReady!: () => void;
    ready.push(new Promise((r) => markReady = r));
    (async () => {
      const stream = hub.watch(
        { cluster, version: "v1", resource: "configmaps", namespace, labelSelector: "bench=watch" },
        { headers, signal: stop.signal },
      );
      for await (const event of stream) {
        if (event.type === WatchEvent_Type.BOOKMARK || event.type === WatchEvent_Type.ADDED) markReady();
        // A Struct field is a plain JSON object in protobuf-es.
        const seq = (event.resource?.object as { data?: { seq?: string } } | undefined)?.data?.seq;
        if (event.type === WatchEvent_Type.MODIFIED && seq && sentAt.has(seq)) {
          hubLatencies.push(performance.now() - sentAt.get(seq)!);
        }
      }
    })().catch((error) => {
      if (!stop.signal.aborted) failures.push(String(error));
    }).finally(markReady);
    void directWatch(admin, stop.signal, sentAt, directLatencies, markReady);
  }
  await Promise.all(ready);
  if (failures.length > 0) throw new Error(`${failures.length} hub watches failed, e.g. ${failures[0]}`);
  await new Promise((r) => setTimeout(r, 1_000));
  for (let k = 0; k < watchUpdates; k++) {
    const seq = String(k);
    sentAt.set(seq, performance.now());
    const response = await admin.request(
      "PATCH",
      `/api/v1/namespaces/${namespace}/configmaps/${name}`,
      { data: { seq } },
      "application/merge-patch+json",
    );
    await response.drain();
    await new Promise((r) => setTimeout(r, 300));
  }
  await new Promise((r) => setTimeout(r, 2_000));
  stop.abort();
  const viaHub = summarize(hubLatencies);
  const direct = summarize(directLatencies);
  return [
    row("watch-1000", `direct: ${watchers} watches, ${watchUpdates} updates`, {
      events: String(direct.count),
      p50_ms: direct.p50Ms,
      p99_ms: direct.p99Ms,
    }),
    row("watch-1000", `through hub (gRPC streams): ${watchers} watches`, {
      events: String(viaHub.count),
      p50_ms: viaHub.p50Ms,
      p99_ms: viaHub.p99Ms,
      added_p50_ms: viaHub.p50Ms - direct.p50Ms,
      added_p99_ms: viaHub.p99Ms - direct.p99Ms,
    }),
  ];
}

async function directWatch(
  admin: DirectClient,
  signal: AbortSignal,
  sentAt: Map<string, number>,
  latencies: number[],
  ready: () => void,
): Promise<void> {
  try {
    const response = await admin.stream(
      `/api/v1/namespaces/${namespace}/configmaps?watch=1&labelSelector=bench%3Dwatch&allowWatchBookmarks=true`,
      signal,
    );
    ready();
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of response.body) {
      pending += decoder.decode(chunk, { stream: true });
      let newline;
      while ((newline = pending.indexOf("\n")) >= 0) {
        const event = JSON.parse(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
        const seq = event.object?.data?.seq;
        if (event.type === "MODIFIED" && sentAt.has(seq)) {
          latencies.push(performance.now() - sentAt.get(seq)!);
        }
      }
    }
  } catch {
    // cancelled
  }
}

function row(suite: string, name: string, values: Record<string, number | string>): BenchRow {
  return { suite: `resource-${suite}`, name, values };
}
