/**
 * Terminals and port-forward through the hub (client → hub → tunnel → agent → kube-apiserver → kwok, as
 * alice, Connect on HTTP/1.1 as a browser would use it), against the same streams opened straight to the
 * apiserver with our WebSocket client and the test bed's admin certificate:
 * - exec keystroke round trip (a raw-mode terminal running `cat`: one byte in, the same byte back), alone
 *   and while a 256 MiB port-forward runs on the same tunnel;
 * - port-forward throughput: a POST to the bed's echo server whose body comes back (bytes up + down).
 */
import * as tls from "node:tls";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as k8s from "@kubernetes/client-node";
import { channelMessages, ExecChannel } from "../../server/clusters/channel_protocol.ts";
import { connectWebSocket, type WebSocketClient } from "../../server/clusters/websocket.ts";
import { RuntimeService } from "../../shared/gen/otterscale/runtime/v1/runtime_pb.ts";
import { startFleet } from "../../tests/support/fleet.ts";
import { type LatencySummary, summarize } from "../stats.ts";
import type { BenchRow } from "../table.ts";
import { randomHex } from "../../tests/support/random_hex.ts";

const cluster = "alpha";
const keystrokes = 400;
const warmup = 40;
const throughputBytes = 128 * 1024 * 1024;
const backgroundBytes = 256 * 1024 * 1024;
const writeSize = 1024 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

type HubClient = ReturnType<typeof createClient<typeof RuntimeService>>;

/** Where the streams go: a pod of the bench namespace, its port served by the bed's echo server. */
interface Target {
  namespace: string;
  pod: string;
  port: number;
  greeting: string;
}

export async function benchRuntime(): Promise<BenchRow[]> {
  const fleet = await startFleet({ clusters: [cluster] });
  const admin = new k8s.KubeConfig();
  const bed = fleet.testbed.clusters.find((c) => c.name === cluster)!;
  admin.loadFromFile(bed.kubeconfig);
  const core = admin.makeApiClient(k8s.CoreV1Api);
  const target: Target = {
    namespace: `bench-runtime-${crypto.randomUUID().slice(0, 6)}`,
    pod: "bench",
    port: bed.demo.podPort,
    greeting: bed.demo.greeting,
  };
  const rows: BenchRow[] = [];
  try {
    await prepare(admin, target);
    const token = await fleet.token("alice");
    // No compression, like connect-web in a browser: the terminal and forwarded bytes are passed through
    // as they come, and gzip on every output message would cost the hub more than the stream itself.
    const hub = createClient(
      RuntimeService,
      createConnectTransport({ baseUrl: fleet.hub.url, httpVersion: "1.1", acceptCompression: [] }),
    );
    const headers = { authorization: `Bearer ${token}` };
    const payload = randomHex(backgroundBytes);

    // Quiet rows first, then the busy ones: a 256 MiB forward leaves the bed's processes (sharing this
    // machine's cores) busy for a while after it, which would leak into whatever is measured next.
    const direct = directTerminal(await openDirect(admin, target, "exec"));
    rows.push(
      latencyRow("exec keystroke round trip, direct to the apiserver", await keystrokeSamples(direct)),
    );
    const terminal = await hubTerminal(hub, headers, target);
    rows.push(latencyRow("exec keystroke round trip, through the hub", await keystrokeSamples(terminal)));

    const directForward = directPortForward(await openDirect(admin, target, "portforward"));
    rows.push(
      throughputRow(
        "port-forward echo, direct to the apiserver",
        await echoRoundTrip(directForward, target, payload.subarray(0, throughputBytes)),
      ),
    );
    const hubForward = await hubPortForward(hub, headers, target);
    rows.push(
      throughputRow(
        "port-forward echo, through the hub",
        await echoRoundTrip(hubForward, target, payload.subarray(0, throughputBytes)),
      ),
    );

    // The floor for the busy hub case: what the bed's apiserver, kwok and echo server add on their own
    // when a terminal and a bulk forward run side by side.
    const directBulk = await busyKeystrokes(
      direct,
      directPortForward(await openDirect(admin, target, "portforward")),
      target,
      payload,
    );
    direct.close();
    rows.push(
      latencyRow(
        "exec keystroke round trip, direct to the apiserver, during a 256 MiB port-forward",
        directBulk.keys,
      ),
    );
    rows.push(
      throughputRow("port-forward echo, direct to the apiserver, 256 MiB (with keystrokes)", directBulk.bulk),
    );

    // The same hub terminal while a 256 MiB forward shares the tunnel.
    const hubBulk = await busyKeystrokes(
      terminal,
      await hubPortForward(hub, headers, target),
      target,
      payload,
    );
    rows.push(
      latencyRow("exec keystroke round trip, through the hub, during a 256 MiB port-forward", hubBulk.keys),
    );
    rows.push(throughputRow("port-forward echo, through the hub, 256 MiB (with keystrokes)", hubBulk.bulk));
    terminal.close();
  } finally {
    await core.deleteNamespace({ name: target.namespace }).catch(() => {});
    await fleet.close();
  }
  return rows;
}

// ---- set-up ----

async function prepare(admin: k8s.KubeConfig, target: Target): Promise<void> {
  const core = admin.makeApiClient(k8s.CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: target.namespace } } });
  await admin.makeApiClient(k8s.RbacAuthorizationV1Api).createNamespacedRoleBinding({
    namespace: target.namespace,
    body: {
      metadata: { name: "platform-admins" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "admin" },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "oidc:platform-admins" }],
    },
  });
  await core.createNamespacedPod({
    namespace: target.namespace,
    body: {
      metadata: { name: target.pod },
      spec: {
        containers: [{ name: "app", image: "registry.invalid/bench/app:1" }],
        nodeSelector: { type: "kwok" },
      },
    },
  });
  for (let i = 0; i < 120; i++) {
    const pod = await core.readNamespacedPod({ name: target.pod, namespace: target.namespace });
    if (pod.status?.phase === "Running") return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  throw new Error(`pod ${target.namespace}/${target.pod} did not start`);
}

// ---- a terminal and a forwarded connection, through the hub or direct ----

/** Bytes in, a running count of bytes out. */
interface Pipe {
  write(data: Uint8Array): Promise<void>;
  /** Resolves once more than `count` bytes have come back in total. */
  received(count: number): Promise<void>;
  readonly total: number;
  /** The bytes received so far (kept only until `keep` bytes). */
  readonly head: Uint8Array;
  close(): void;
}

/** Counts bytes arriving from `source` and wakes whoever waits for a count. */
function counter(keep = 4096) {
  let total = 0;
  let head = new Uint8Array(0);
  let waiters: { count: number; resolve: () => void }[] = [];
  let failure: Error | undefined;
  return {
    add(data: Uint8Array) {
      if (head.length < keep) {
        const grown = new Uint8Array(Math.min(keep, head.length + data.length));
        grown.set(head);
        grown.set(data.subarray(0, grown.length - head.length), head.length);
        head = grown;
      }
      total += data.length;
      const ready = waiters.filter((w) => total > w.count);
      waiters = waiters.filter((w) => total <= w.count);
      for (const waiter of ready) waiter.resolve();
    },
    fail(error: Error) {
      failure = error;
      for (const waiter of waiters) waiter.resolve();
      waiters = [];
    },
    received(count: number): Promise<void> {
      if (failure) return Promise.reject(failure);
      if (total > count) return Promise.resolve();
      return new Promise<void>((resolve) => waiters.push({ count, resolve })).then(() => {
        if (failure) throw failure;
      });
    },
    get total() {
      return total;
    },
    get head() {
      return head;
    },
  };
}

async function hubTerminal(hub: HubClient, headers: Record<string, string>, target: Target): Promise<Pipe> {
  const controller = new AbortController();
  const stream = hub.executeTTY({
    cluster,
    namespace: target.namespace,
    name: target.pod,
    // Raw mode: each byte reaches cat at once, and cat's copy is the only echo.
    command: ["sh", "-c", "stty raw -echo; exec cat"],
    tty: true,
  }, { headers, signal: controller.signal })[Symbol.asyncIterator]();
  const sessionId = (await stream.next()).value?.sessionId ?? "";
  const out = counter();
  void (async () => {
    try {
      for (let next = await stream.next(); !next.done; next = await stream.next()) out.add(next.value.stdout);
      out.fail(new Error("the terminal ended"));
    } catch (error) {
      out.fail(error as Error);
    }
  })();
  await settle(out);
  return {
    write: (data) => hub.writeTTY({ sessionId, stdin: data }, { headers }).then(() => {}),
    received: out.received,
    get total() {
      return out.total;
    },
    get head() {
      return out.head;
    },
    close: () => controller.abort(),
  };
}

async function hubPortForward(
  hub: HubClient,
  headers: Record<string, string>,
  target: Target,
): Promise<Pipe> {
  const controller = new AbortController();
  const stream = hub.portForward({
    cluster,
    namespace: target.namespace,
    name: target.pod,
    port: target.port,
  }, {
    headers,
    signal: controller.signal,
  })[Symbol.asyncIterator]();
  const sessionId = (await stream.next()).value?.sessionId ?? "";
  const out = counter();
  void (async () => {
    try {
      for (let next = await stream.next(); !next.done; next = await stream.next()) out.add(next.value.data);
      out.fail(new Error("the port-forward ended"));
    } catch (error) {
      out.fail(error as Error);
    }
  })();
  return {
    async write(data) {
      for (let offset = 0; offset < data.length; offset += writeSize) {
        await hub.writePortForward({ sessionId, data: data.subarray(offset, offset + writeSize) }, {
          headers,
        });
      }
    },
    received: out.received,
    get total() {
      return out.total;
    },
    get head() {
      return out.head;
    },
    close: () => controller.abort(),
  };
}

/** A WebSocket straight to the apiserver over TLS with the admin certificate. */
async function openDirect(
  admin: k8s.KubeConfig,
  target: Target,
  kind: "exec" | "portforward",
): Promise<WebSocketClient> {
  const options: tls.ConnectionOptions = {};
  await admin.applyToHTTPSOptions(options as never);
  const server = new URL(admin.getCurrentCluster()!.server);
  const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
    const s = tls.connect({ ...options, host: server.hostname, port: Number(server.port) }, () => resolve(s));
    s.once("error", reject);
  });
  socket.setNoDelay(true);
  const pod = `/api/v1/namespaces/${target.namespace}/pods/${target.pod}`;
  if (kind === "portforward") {
    return await connectWebSocket(socket, {
      path: `${pod}/portforward?ports=${target.port}`,
      host: server.host,
      protocols: ["v4.channel.k8s.io"],
    });
  }
  const query = new URLSearchParams([["command", "sh"], ["command", "-c"], [
    "command",
    "stty raw -echo; exec cat",
  ]]);
  query.set("stdin", "true");
  query.set("stdout", "true");
  query.set("tty", "true");
  return await connectWebSocket(socket, {
    path: `${pod}/exec?${query}`,
    host: server.host,
    protocols: ["v5.channel.k8s.io"],
  });
}

function directPipe(ws: WebSocketClient, channel: number, stripPrefix: number): Pipe {
  const out = counter();
  void (async () => {
    let prefix = stripPrefix;
    try {
      for await (const message of ws.messages()) {
        if (message[0] !== channel) continue;
        let data = message.subarray(1);
        const skip = Math.min(prefix, data.length);
        prefix -= skip;
        data = data.subarray(skip);
        if (data.length > 0) out.add(data);
      }
      out.fail(new Error("the WebSocket closed"));
    } catch (error) {
      out.fail(error as Error);
    }
  })();
  return {
    async write(data) {
      for (const message of channelMessages(0, data)) await ws.send(message);
    },
    received: out.received,
    get total() {
      return out.total;
    },
    get head() {
      return out.head;
    },
    close: () => ws.destroy(),
  };
}

function directTerminal(ws: WebSocketClient): Pipe {
  return directPipe(ws, ExecChannel.Stdout, 0);
}

function directPortForward(ws: WebSocketClient): Pipe {
  return directPipe(ws, 0, 2);
}

// ---- measurements ----

/** Waits until the terminal has printed whatever it prints on start and gone quiet. */
async function settle(out: { total: number }): Promise<void> {
  let last = -1;
  while (out.total !== last) {
    last = out.total;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

/** One byte in, wait for it to come back; `count` times after `warmup`, or until `stop()` says so. */
async function keystrokeSamples(terminal: Pipe, stop?: () => boolean): Promise<number[]> {
  const key = encoder.encode("k");
  const strike = async () => {
    const before = terminal.total;
    const started = performance.now();
    await terminal.write(key);
    await terminal.received(before);
    return performance.now() - started;
  };
  const samples: number[] = [];
  if (stop) {
    while (!stop() || samples.length < 20) samples.push(await strike());
    return samples;
  }
  // Keys typed before the terminal is in raw mode may come back twice; let those arrive unmeasured.
  for (let i = 0; i < warmup; i++) await strike();
  await settle(terminal);
  for (let i = 0; i < keystrokes; i++) samples.push(await strike());
  return samples;
}

/** Keystrokes on `terminal` for as long as `body` takes to echo through `forward`. */
async function busyKeystrokes(
  terminal: Pipe,
  forward: Pipe,
  target: Target,
  body: Uint8Array,
): Promise<{ keys: number[]; bulk: EchoResult }> {
  let bulkDone = false;
  const bulk = echoRoundTrip(forward, target, body).finally(() => (bulkDone = true));
  const keys = await keystrokeSamples(terminal, () => bulkDone);
  return { keys, bulk: await bulk };
}

interface EchoResult {
  bytes: number;
  seconds: number;
}

/** POSTs `body` to the echo server behind the pod's port and waits for all of it to come back. */
async function echoRoundTrip(pipe: Pipe, target: Target, body: Uint8Array): Promise<EchoResult> {
  const started = performance.now();
  const request = encoder.encode(
    `POST /bench HTTP/1.1\r\nHost: pod\r\nContent-Length: ${body.length}\r\n\r\n`,
  );
  await pipe.write(request);
  await pipe.write(body);
  let headEnd = -1;
  while (headEnd < 0) {
    if (pipe.total >= 4096) throw new Error("the echo server's answer has no head");
    await pipe.received(pipe.total);
    headEnd = decoder.decode(pipe.head).indexOf("\r\n\r\n");
  }
  const expected = headEnd + 4 + `${target.greeting}\nPOST /bench\n`.length + body.length;
  await pipe.received(expected - 1);
  const seconds = (performance.now() - started) / 1000;
  pipe.close();
  return { bytes: 2 * body.length, seconds };
}

function latencyRow(name: string, samples: number[]): BenchRow {
  const s: LatencySummary = summarize(samples);
  return {
    suite: "runtime",
    name,
    values: { calls: String(s.count), p50_ms: s.p50Ms, p90_ms: s.p90Ms, p99_ms: s.p99Ms, max_ms: s.maxMs },
  };
}

function throughputRow(name: string, result: EchoResult): BenchRow {
  return {
    suite: "runtime",
    name,
    values: {
      mib_moved: result.bytes / (1024 * 1024),
      seconds: result.seconds,
      mib_per_s: result.bytes / (1024 * 1024) / result.seconds,
    },
  };
}
