/**
 * Resource calls through the hub (client → hub → tunnel → agent →
 * kube-apiserver, as alice) against the same calls sent straight to the
 * apiserver with the test bed's admin certificate, in one run:
 * - a small Get, sequential (p50/p99, and what the hub adds), beside the floor of two byte relays;
 * - a List of 5,000 ConfigMaps (time to first byte, total, the hub's peak RSS);
 * - 1,000 concurrent Watch streams (BENCH_WATCHERS), each update's delivery latency, and the hub's
 *   memory with all of them open. The direct watches impersonate alice, so that the apiserver's
 *   priority and fairness treat both sides alike (the admin certificate would be exempt).
 */
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Buffer } from "node:buffer";
import * as http from "node:http";
import * as https from "node:https";
import * as k8s from "@kubernetes/client-node";
import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import {
  GetRequestSchema,
  ListRequestSchema,
  ListResponseSchema,
  ResourceService,
  WatchEvent_Type,
} from "../../shared/gen/otterscale/resource/v1/resource_pb.ts";
import { startFleet } from "../../tests/support/fleet.ts";
import { type LatencySummary, summarize, timeSequential } from "../stats.ts";
import type { BenchRow } from "../table.ts";

const cluster = "alpha";
const namespace = "bench-resource";
const listSize = 5_000;
const watchers = Number(Deno.env.get("BENCH_WATCHERS") ?? 1_000);
const watchUpdates = 20;

export async function benchResource(): Promise<BenchRow[]> {
  const fleet = await startFleet({ clusters: [cluster] });
  const kubeconfig = fleet.testbed.clusters.find((c) => c.name === cluster)!.kubeconfig;
  const admin = await directClient(kubeconfig);
  const relays = await startRelays(admin.server);
  const relayed = await directClient(kubeconfig, relays.port);
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
    rows.push(...await benchGet(admin, relayed, fleet.hub.url, hub, headers, impersonationOf(token)));
    console.error("resource: list of 5,000…");
    rows.push(...await benchList(admin, fleet.hub.url, headers, fleet.hub.child.pid));
    // One HTTP/2 connection for all streams, closed before the hub stops: Deno's HTTP/2 client can
    // abort the process on a GOAWAY that arrives while many streams are being cancelled.
    const session = new Http2SessionManager(fleet.hub.url);
    const hubStreams = createClient(
      ResourceService,
      createGrpcTransport({ baseUrl: fleet.hub.url, sessionManager: session }),
    );
    try {
      rows.push(...await benchWatch(admin, hubStreams, headers, fleet.hub.child.pid, impersonationOf(token)));
    } finally {
      session.abort();
    }
  } finally {
    await admin.request("DELETE", `/api/v1/namespaces/${namespace}`).catch(() => {});
    admin.close();
    relayed.close();
    await relays.stop();
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
  /** The apiserver's URL from the kubeconfig. */
  server: URL;
  /** A GET with extra headers; with `signal`, the caller may read its body until it aborts (a watch). */
  get(
    path: string,
    headers?: Record<string, string | string[]>,
    signal?: AbortSignal,
  ): Promise<DirectResponse>;
  request(method: string, path: string, body?: unknown, contentType?: string): Promise<DirectResponse>;
  close(): void;
}

/**
 * node:https with the admin client certificate and a keep-alive pool: the
 * straight path, the way the agent itself talks to the apiserver. (Deno's
 * fetch with a custom client crashed the process when many watch bodies were
 * cancelled.)
 */
async function directClient(kubeconfig: string, port?: number): Promise<DirectClient> {
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
    extraHeaders: Record<string, string | string[]> = {},
  ) =>
    new Promise<DirectResponse>((resolve, reject) => {
      const request = https.request({
        agent,
        host: server.hostname,
        port: port ?? server.port,
        method,
        path,
        signal,
        headers: body === undefined ? extraHeaders : { ...extraHeaders, "content-type": contentType },
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
    server,
    get: (path, headers, signal) => send("GET", path, undefined, undefined, signal, headers),
    request: (method, path, body, contentType) => send(method, path, body, contentType),
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

/** Get calls per path: `getRounds` blocks of `getBlock`, the paths taking turns so that drift hits all alike. */
const getRounds = 5;
const getBlock = 200;
const getWarmup = 100;
/**
 * Through the hub, the apiserver sits idle for a few milliseconds between Gets. On this VM a process that
 * slept that long wakes slowly, and so does the apiserver (and etcd behind it): one more direct row with a
 * pause of this length before each call shows how much of the added time is the apiserver's own.
 */
const getIdleMs = 3;

/**
 * The same small Get, sequentially, six ways. The baseline is the apiserver asked directly as alice (the
 * admin certificate impersonating her, so that her RBAC is evaluated as on every call through the hub);
 * "added" columns are against it. Two byte relays in front of the apiserver show the least that two more
 * processes on the path cost on this machine, before any HTTP, TLS or Connect work; a paced direct row
 * shows the apiserver as the hub path finds it (see getIdleMs).
 */
async function benchGet(
  admin: DirectClient,
  relayed: DirectClient,
  hubUrl: string,
  hub: HubClient,
  headers: Record<string, string>,
  alice: Impersonation,
): Promise<BenchRow[]> {
  const path = `/api/v1/namespaces/${namespace}/configmaps/small`;
  const asAlice = { "impersonate-user": alice.user, "impersonate-group": alice.groups };
  const directGet = (client: DirectClient, extra: Record<string, string | string[]>) => async () => {
    const response = await client.get(path, extra);
    if ((await response.drain()) === 0 || response.status !== 200) {
      throw new Error(`direct Get answered ${response.status}`);
    }
  };
  const hubRaw = connectUnaryPoster(hubUrl, headers);
  const getRequest = { cluster, version: "v1", resource: "configmaps", namespace, name: "small" };
  const getBody = toBinary(GetRequestSchema, create(GetRequestSchema, getRequest));
  const paths = {
    admin: directGet(admin, {}),
    alice: directGet(admin, asAlice),
    aliceAfterIdle: directGet(admin, asAlice),
    relays: directGet(relayed, asAlice),
    hubRaw: () => hubRaw(`/${ResourceService.typeName}/${ResourceService.method.get.name}`, getBody),
    hubTyped: () => hub.get(getRequest, { headers }),
  };
  const samples = await timeTakingTurns(paths, { aliceAfterIdle: getIdleMs });
  const s = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, summarize(values)]));
  const added = (path: LatencySummary) => ({
    p50_ms: path.p50Ms,
    p99_ms: path.p99Ms,
    added_p50_ms: path.p50Ms - s.alice.p50Ms,
    added_p99_ms: path.p99Ms - s.alice.p99Ms,
  });
  return [
    row("get", "direct to kube-apiserver (admin cert)", { p50_ms: s.admin.p50Ms, p99_ms: s.admin.p99Ms }),
    row("get", "direct, admin cert impersonating alice (baseline)", {
      p50_ms: s.alice.p50Ms,
      p99_ms: s.alice.p99Ms,
    }),
    row("get", `direct as alice, each call after ${getIdleMs} ms idle`, {
      p50_ms: s.aliceAfterIdle.p50Ms,
      p99_ms: s.aliceAfterIdle.p99Ms,
    }),
    row("get", "direct as alice through two byte relays (floor of 2 processes)", added(s.relays)),
    row("get", "through hub, tunnel and agent (Connect POST, binary, as alice)", added(s.hubRaw)),
    row("get", "through hub, tunnel and agent (connect-node client, as alice)", added(s.hubTyped)),
  ];
}

/**
 * Runs every path `getWarmup` times, then `getRounds` blocks of `getBlock` timed calls per path, the paths
 * taking turns block by block; a path in `idleBeforeMs` waits that long before each timed call.
 */
async function timeTakingTurns<K extends string>(
  paths: Record<K, () => Promise<unknown>>,
  idleBeforeMs: Partial<Record<K, number>>,
): Promise<Record<K, number[]>> {
  const names = Object.keys(paths) as K[];
  const samples = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<K, number[]>;
  for (const name of names) await timeSequential(paths[name], 0, getWarmup);
  for (let round = 0; round < getRounds; round++) {
    for (const name of names) {
      samples[name].push(...await timeSequential(paths[name], getBlock, 0, idleBeforeMs[name]));
    }
  }
  return samples;
}

/**
 * Connect unary calls as plain HTTP/1.1 POSTs (binary protobuf) on kept-alive connections, as a
 * Connect client in any language sends them: the like of the direct client, without a framework's
 * own cost on the client side.
 */
function connectUnaryPoster(
  hubUrl: string,
  headers: Record<string, string>,
): (path: string, body: Uint8Array) => Promise<void> {
  const url = new URL(hubUrl);
  const agent = new http.Agent({ keepAlive: true });
  return (path, body) =>
    new Promise((resolve, reject) => {
      const request = http.request({
        agent,
        host: url.hostname,
        port: url.port,
        method: "POST",
        path,
        headers: { ...headers, "content-type": "application/proto" },
      }, (response) => {
        response.socket.setNoDelay(true);
        let bytes = 0;
        response.on("data", (chunk: Uint8Array) => (bytes += chunk.length));
        response.on("end", () => {
          if (response.statusCode === 200 && bytes > 0) resolve();
          else reject(new Error(`hub answered ${response.statusCode} to ${path}`));
        });
      });
      request.on("error", reject);
      request.end(body);
    });
}

/** Two byte relays in a row in front of the apiserver; resolves with the first one's port. */
async function startRelays(server: URL): Promise<{ port: number; stop(): Promise<void> }> {
  const relays: Deno.ChildProcess[] = [];
  const start = async (host: string, port: string | number) => {
    const relay = new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", new URL("../tcp_relay.ts", import.meta.url).pathname, host, String(port)],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    relays.push(relay);
    const reader = relay.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const listening = Number((await reader.read()).value?.trim());
    reader.releaseLock();
    return listening;
  };
  const second = await start(server.hostname, server.port);
  const first = await start("127.0.0.1", second);
  return {
    port: first,
    async stop() {
      for (const relay of relays) {
        relay.kill();
        await relay.status;
        await relay.stdout.cancel().catch(() => {});
      }
    },
  };
}

/** List rounds per path; the table shows each path's median. */
const listRounds = 3;

/**
 * A List of 5,000 ConfigMaps straight from the apiserver and through the hub, `listRounds` times each,
 * alternating. Through the hub it is measured twice: as raw bytes (a Connect unary POST read like the
 * direct body: time to first byte and to the last) and with the typed client (which also decodes every
 * object into JSON). Neither side asks for compression, so both move the bytes they are.
 */
async function benchList(
  admin: DirectClient,
  hubUrl: string,
  headers: Record<string, string>,
  hubPid: number,
): Promise<BenchRow[]> {
  await createConfigMaps(admin, listSize);
  const request = {
    cluster,
    version: "v1",
    resource: "configmaps",
    namespace,
    labelSelector: "bench=list",
  };
  const typed = createClient(
    ResourceService,
    createConnectTransport({ baseUrl: hubUrl, httpVersion: "1.1", acceptCompression: [] }),
  );
  const direct: BodyTiming[] = [];
  const raw: BodyTiming[] = [];
  const typedMs: number[] = [];
  const rssBefore = currentRssBytes(hubPid);
  let peakAfterFirst = 0;
  for (let round = 0; round < listRounds; round++) {
    direct.push(
      await timeBody(
        admin.request("GET", `/api/v1/namespaces/${namespace}/configmaps?labelSelector=bench%3Dlist`),
      ),
    );
    const posted = timeBody(postList(hubUrl, headers, request));
    const timing = await posted;
    const items = fromBinary(ListResponseSchema, timing.body!).items.length;
    if (items !== listSize) throw new Error(`hub listed ${items} of ${listSize}`);
    raw.push({ ...timing, body: undefined });
    if (round === 0) peakAfterFirst = peakRssBytes(hubPid);
    const started = performance.now();
    const listed = await typed.list(request, { headers });
    typedMs.push(performance.now() - started);
    if (listed.items.length !== listSize) throw new Error(`hub listed ${listed.items.length} of ${listSize}`);
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  return [
    row("list-5000", "direct to kube-apiserver", {
      ttfb_ms: median(direct.map((t) => t.ttfbMs)),
      total_ms: median(direct.map((t) => t.totalMs)),
      body_mib: direct[0].bytes / 2 ** 20,
    }),
    row("list-5000", "through hub (Connect unary, bytes read)", {
      ttfb_ms: median(raw.map((t) => t.ttfbMs)),
      total_ms: median(raw.map((t) => t.totalMs)),
      body_mib: raw[0].bytes / 2 ** 20,
      // The hub's resident set before the first List, and its peak once that List is done.
      hub_rss_before_mib: rssBefore / 2 ** 20,
      hub_peak_rss_mib: peakAfterFirst / 2 ** 20,
    }),
    row("list-5000", "through hub (typed client, objects decoded)", { total_ms: median(typedMs) }),
  ];
}

interface BodyTiming {
  ttfbMs: number;
  totalMs: number;
  bytes: number;
  /** The whole body, when asked for. */
  body?: Uint8Array;
}

/** Times a response from the moment `response` was asked for until its first and its last byte. */
async function timeBody(response: Promise<DirectResponse>): Promise<BodyTiming> {
  const started = performance.now();
  const answer = await response;
  if (answer.status !== 200) throw new Error(`list: HTTP ${answer.status}`);
  let ttfbMs = 0;
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for await (const chunk of answer.body) {
    if (bytes === 0) ttfbMs = performance.now() - started;
    bytes += chunk.length;
    chunks.push(chunk);
  }
  return { ttfbMs, totalMs: performance.now() - started, bytes, body: Buffer.concat(chunks) };
}

/** A Connect unary List call as plain HTTP (binary protobuf, no compression), its body unread. */
async function postList(
  hubUrl: string,
  headers: Record<string, string>,
  request: MessageInitShape<typeof ListRequestSchema>,
): Promise<DirectResponse> {
  const response = await fetch(`${hubUrl}/${ResourceService.typeName}/${ResourceService.method.list.name}`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/proto", "accept-encoding": "identity" },
    body: toBinary(ListRequestSchema, create(ListRequestSchema, request)),
  });
  const body = response.body!;
  return {
    status: response.status,
    body,
    async drain() {
      let bytes = 0;
      for await (const chunk of body) bytes += chunk.length;
      return bytes;
    },
  };
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

/** Watches being set up at once: a burst of 1,000 trips the apiserver's priority-and-fairness queues. */
const watchOpenConcurrency = 50;

/** What a watcher hands on: the event type and the ConfigMap's `data.seq`. */
type OnWatchEvent = (type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR", seq?: string) => void;

/** Opens one watch and reports its events until `signal` aborts; resolves once it has ended. */
type OpenWatch = (signal: AbortSignal, onEvent: OnWatchEvent) => Promise<void>;

interface WatchPhase {
  latencies: number[];
  /** The hub's resident set with all watches open, when measured. */
  rssOpenBytes?: number;
}

/**
 * `watchers` watches straight to the apiserver, then as many through the hub, each phase alone (so
 * that the client handles one set of streams at a time). Both phases watch as alice: the direct ones
 * impersonate her with the admin certificate, so the apiserver's priority and fairness treat both alike.
 */
async function benchWatch(
  admin: DirectClient,
  hub: HubClient,
  headers: Record<string, string>,
  hubPid: number,
  alice: Impersonation,
): Promise<BenchRow[]> {
  const name = "watched";
  await (await admin.request("POST", `/api/v1/namespaces/${namespace}/configmaps`, {
    metadata: { name, labels: { bench: "watch" } },
    data: { seq: "-1" },
  })).drain();
  const update = async (seq: string) => {
    const response = await admin.request(
      "PATCH",
      `/api/v1/namespaces/${namespace}/configmaps/${name}`,
      { data: { seq } },
      "application/merge-patch+json",
    );
    await response.drain();
  };

  console.error(`resource: ${watchers} direct watches…`);
  const direct = await watchPhase(
    (signal, onEvent) => directWatch(admin, alice, signal, onEvent),
    update,
    "direct",
  );
  const rssBefore = currentRssBytes(hubPid);
  console.error(`resource: ${watchers} watches through the hub…`);
  const viaHub = await watchPhase(
    (signal, onEvent) => hubWatch(hub, headers, signal, onEvent),
    update,
    "hub",
    hubPid,
  );
  const directSummary = summarize(direct.latencies);
  const hubSummary = summarize(viaHub.latencies);
  const mib = (bytes: number) => bytes / 2 ** 20;
  return [
    row("watch-1000", `direct (as alice): ${watchers} watches, ${watchUpdates} updates`, {
      events: String(directSummary.count),
      p50_ms: directSummary.p50Ms,
      p99_ms: directSummary.p99Ms,
    }),
    row("watch-1000", `through hub (gRPC streams): ${watchers} watches, ${watchUpdates} updates`, {
      events: String(hubSummary.count),
      p50_ms: hubSummary.p50Ms,
      p99_ms: hubSummary.p99Ms,
      added_p50_ms: hubSummary.p50Ms - directSummary.p50Ms,
      added_p99_ms: hubSummary.p99Ms - directSummary.p99Ms,
      hub_rss_open_mib: mib(viaHub.rssOpenBytes ?? 0),
      hub_rss_growth_mib: mib((viaHub.rssOpenBytes ?? 0) - rssBefore),
      hub_peak_rss_mib: mib(peakRssBytes(hubPid)),
    }),
  ];
}

/**
 * Opens `watchers` watches (at most watchOpenConcurrency being set up at a time), then makes
 * `watchUpdates` updates one after another, each once every watch has seen the previous one (or after
 * 10 s), and times each update's arrival at each watch.
 */
async function watchPhase(
  open: OpenWatch,
  update: (seq: string) => Promise<void>,
  label: string,
  hubPid?: number,
): Promise<WatchPhase> {
  const stop = new AbortController();
  const sentAt = new Map<string, number>();
  const seen = new Map<string, number>();
  const latencies: number[] = [];
  const failures: string[] = [];
  const ended: Promise<void>[] = [];
  let progress = () => {};

  const openOne = () =>
    new Promise<void>((ready) => {
      const watch = open(stop.signal, (type, seq) => {
        if (type === "ADDED" || type === "BOOKMARK") ready();
        if (type !== "MODIFIED" || seq === undefined || !sentAt.has(seq)) return;
        latencies.push(performance.now() - sentAt.get(seq)!);
        seen.set(seq, (seen.get(seq) ?? 0) + 1);
        progress();
      }).catch((error) => {
        if (!stop.signal.aborted) failures.push(String(error));
      }).finally(ready);
      ended.push(watch);
    });
  let next = 0;
  await Promise.all(Array.from({ length: watchOpenConcurrency }, async () => {
    while (next < watchers && failures.length === 0) {
      next++;
      await openOne();
    }
  }));
  if (failures.length > 0) {
    stop.abort();
    throw new Error(`${label}: ${failures.length} watches failed, e.g. ${failures[0]}`);
  }
  await new Promise((r) => setTimeout(r, 1_000));
  const rssOpenBytes = hubPid === undefined ? undefined : currentRssBytes(hubPid);

  for (let k = 0; k < watchUpdates; k++) {
    const seq = `${label}-${k}`;
    const delivered = new Promise<void>((resolve) => {
      progress = () => (seen.get(seq) ?? 0) >= watchers && resolve();
      setTimeout(resolve, 10_000);
    });
    sentAt.set(seq, performance.now());
    await update(seq);
    await delivered;
    await new Promise((r) => setTimeout(r, 100));
  }
  stop.abort();
  await Promise.all(ended);
  if (failures.length > 0) {
    throw new Error(`${label}: ${failures.length} watches failed, e.g. ${failures[0]}`);
  }
  return { latencies, rssOpenBytes };
}

async function hubWatch(
  hub: HubClient,
  headers: Record<string, string>,
  signal: AbortSignal,
  onEvent: OnWatchEvent,
): Promise<void> {
  const stream = hub.watch(
    { cluster, version: "v1", resource: "configmaps", namespace, labelSelector: "bench=watch" },
    { headers, signal },
  );
  try {
    for await (const event of stream) {
      // A Struct field is a plain JSON object in protobuf-es.
      const seq = (event.resource?.object as { data?: { seq?: string } } | undefined)?.data?.seq;
      onEvent(WatchEvent_Type[event.type] as Parameters<OnWatchEvent>[0], seq);
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}

async function directWatch(
  admin: DirectClient,
  alice: Impersonation,
  signal: AbortSignal,
  onEvent: OnWatchEvent,
): Promise<void> {
  try {
    const response = await admin.get(
      `/api/v1/namespaces/${namespace}/configmaps?watch=1&labelSelector=bench%3Dwatch&allowWatchBookmarks=true`,
      { "impersonate-user": alice.user, "impersonate-group": alice.groups },
      signal,
    );
    if (response.status !== 200) throw new Error(`direct watch: HTTP ${response.status}`);
    const decoder = new TextDecoder();
    let pending = "";
    for await (const chunk of response.body) {
      pending += decoder.decode(chunk, { stream: true });
      let newline;
      while ((newline = pending.indexOf("\n")) >= 0) {
        const event = JSON.parse(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
        onEvent(event.type, event.object?.data?.seq);
      }
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}

/** Who the hub makes alice on the cluster (see server/auth/identity.ts), read from her token. */
interface Impersonation {
  user: string;
  groups: string[];
}

function impersonationOf(token: string): Impersonation {
  const claims = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));
  const groups: unknown[] = Array.isArray(claims.groups) ? claims.groups : [];
  return {
    user: claims.sub,
    groups: ["system:authenticated", ...groups.map((group) => `oidc:${group}`)],
  };
}

/** The process's current resident set (VmRSS), from /proc. */
function currentRssBytes(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? "0") * 1024;
}

function row(suite: string, name: string, values: Record<string, number | string>): BenchRow {
  return { suite: `resource-${suite}`, name, values };
}
