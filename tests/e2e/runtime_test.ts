/**
 * RuntimeService end to end: the real hub and agent processes, the test bed's alpha cluster (kwok pods:
 * logs stream a real file, exec runs a real local process with a real pty, port-forward reaches a real
 * local echo server) and real Keycloak tokens for alice (platform-admins) and bob (viewers). Every call
 * goes through hub, tunnel and agent as the caller over Connect on HTTP/1.1, as a browser would; the
 * cluster's RBAC decides. The test grants rights only inside a namespace it creates (and removes).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as https from "node:https";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import * as k8s from "@kubernetes/client-node";
import { codeForKubeStatus } from "../../shared/errors.ts";
import {
  type ExecuteTTYResponse,
  type ExitStatus,
  RuntimeService,
} from "../../shared/gen/otterscale/runtime/v1/runtime_pb.ts";
import { type Fleet, startFleet } from "../support/fleet.ts";
import { findSample, parseMetrics } from "../support/metrics_text.ts";
import { expectCode, until } from "../support/expect.ts";
import { concatBytes } from "../../shared/bytes.ts";
import { randomHex } from "../support/random_hex.ts";

const RUN = crypto.randomUUID().slice(0, 6);
const NS = `e2e-rt-${RUN}`;
const POD = "shell";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

type Client = ReturnType<typeof runtimeClient>;
type ExecOptions = {
  command: string[];
  tty?: boolean;
  rows?: number;
  cols?: number;
  name?: string;
  cluster?: string;
  container?: string;
};

function runtimeClient(baseUrl: string) {
  return createClient(RuntimeService, createConnectTransport({ baseUrl, httpVersion: "1.1" }));
}

function auth(token: string, signal?: AbortSignal) {
  return { headers: { authorization: `Bearer ${token}` }, signal };
}

/** Everything a server stream sends, read in the background. */
class StreamRecorder<T> {
  readonly messages: T[] = [];
  error: ConnectError | undefined;
  ended = false;
  readonly done: Promise<void>;
  readonly #controller = new AbortController();

  constructor(open: (signal: AbortSignal) => AsyncIterable<T>) {
    this.done = (async () => {
      try {
        for await (const message of open(this.#controller.signal)) this.messages.push(message);
      } catch (error) {
        this.error = ConnectError.from(error);
      } finally {
        this.ended = true;
      }
    })();
  }

  async waitFor(what: string, timeoutMs: number, predicate: () => boolean): Promise<void> {
    await until(what, timeoutMs, () => {
      if (predicate()) return Promise.resolve(true);
      if (this.ended) throw new Error(`the stream ended first (${this.error?.rawMessage ?? "cleanly"})`);
      return Promise.resolve(undefined);
    });
  }

  async waitForEnd(timeoutMs: number): Promise<ConnectError | undefined> {
    await until("the stream to end", timeoutMs, () => Promise.resolve(this.ended ? true : undefined));
    return this.error;
  }

  async cancel(): Promise<void> {
    this.#controller.abort();
    await this.done;
  }
}

/** An exec stream with its output split by channel. */
class Terminal extends StreamRecorder<ExecuteTTYResponse> {
  get sessionId(): string {
    return this.messages[0]?.sessionId ?? "";
  }
  get stdout(): string {
    return this.messages.map((m) => decoder.decode(m.stdout)).join("");
  }
  get stderr(): string {
    return this.messages.map((m) => decoder.decode(m.stderr)).join("");
  }
  get exit(): ExitStatus | undefined {
    return this.messages.find((m) => m.exit)?.exit;
  }
  async waitForOutput(pattern: RegExp, timeoutMs = 15_000): Promise<void> {
    await this.waitFor(`output matching ${pattern}`, timeoutMs, () => pattern.test(this.stdout));
  }
}

function adminConfig(fleet: Fleet): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(fleet.testbed.clusters.find((c) => c.name === "alpha")!.kubeconfig);
  return kc;
}

/** A GET straight to the apiserver as the bed's admin: status and body, for comparison with the hub. */
async function adminGet(kc: k8s.KubeConfig, path: string): Promise<{ status: number; body: Uint8Array }> {
  const options: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  const url = new URL(path, kc.getCurrentCluster()!.server);
  return await new Promise((resolve, reject) => {
    const request = https.get(url, { ...options, agent: false }, async (response) => {
      const chunks: Uint8Array[] = [];
      for await (const chunk of response) chunks.push(chunk);
      resolve({ status: response.statusCode ?? 0, body: concatBytes(chunks) });
    });
    request.on("error", reject);
  });
}

async function collectLog(client: Client, token: string, request: Parameters<Client["podLog"]>[0]) {
  const chunks: Uint8Array[] = [];
  for await (const message of client.podLog(request, auth(token))) {
    assert.ok(message.data.length > 0 && message.data.length <= 32 * 1024, `chunk of ${message.data.length}`);
    chunks.push(message.data);
  }
  return { text: decoder.decode(concatBytes(chunks)), messages: chunks.length };
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function roleBinding(name: string, clusterRole: string, group: string) {
  return {
    metadata: { name },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole },
    subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: group }],
  };
}

Deno.test("RuntimeService end to end with Keycloak users, hub, agent and kwok pods", async (t) => {
  const fleet = await startFleet({ clusters: ["alpha"] });
  const client = runtimeClient(fleet.hub.url);
  const metrics = async () => parseMetrics(await (await fetch(`${fleet.hub.url}/metrics`)).text());
  /** True when the hub holds exactly `count` sessions of `kind`, for `until`. */
  const openSessions = async (kind: string, count: number) => {
    const open = findSample(await metrics(), "otterscale_runtime_sessions", { kind })?.value;
    return open === count ? true : undefined;
  };
  const kc = adminConfig(fleet);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  const logText = fleet.testbed.clusters.find((c) => c.name === "alpha")!.demo.logText;
  let follow: StreamRecorder<{ data: Uint8Array }> | undefined;
  /** When the follow stream was opened: the time caps it must outlive count from there. */
  let followStarted = 0;
  const background: StreamRecorder<unknown>[] = [];

  try {
    await core.createNamespace({ body: { metadata: { name: NS, labels: { "otterscale.test/run": RUN } } } });
    await rbac.createNamespacedRoleBinding({
      namespace: NS,
      body: roleBinding("platform-admins", "admin", "oidc:platform-admins"),
    });
    await rbac.createNamespacedRoleBinding({
      namespace: NS,
      body: roleBinding("viewers", "view", "oidc:viewers"),
    });
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: POD, labels: { app: POD } },
        spec: {
          containers: [{ name: "app", image: "registry.invalid/testbed/app:1" }],
          nodeSelector: { type: "kwok" },
        },
      },
    });
    await until("pod shell Running", 60_000, async () => {
      const pod = await core.readNamespacedPod({ name: POD, namespace: NS });
      return pod.status?.phase === "Running" ? true : undefined;
    });
    const alice = await fleet.token("alice");
    const bob = await fleet.token("bob");
    const logRequest = { cluster: "alpha", namespace: NS, name: POD };
    // RBAC bindings reach the apiserver's authorizer within a moment.
    await until("alice may read the log", 15_000, () => collectLog(client, alice, logRequest));

    await t.step(
      "PodLog: a follow stream opens now and must outlive every time cap (checked at the end)",
      async () => {
        followStarted = Date.now();
        follow = new StreamRecorder((signal) =>
          client.podLog({ ...logRequest, follow: true }, auth(alice, signal))
        );
        background.push(follow);
        await follow.waitFor(
          "the followed log lines",
          15_000,
          () => decoder.decode(concatBytes(follow!.messages.map((m) => m.data))) === logText,
        );
      },
    );

    await t.step("PodLog: the whole log, then the stream ends cleanly", async () => {
      const { text } = await collectLog(client, alice, logRequest);
      assert.equal(text, logText);
    });

    await t.step(
      "PodLog: tail, limit, timestamps and since behave as the apiserver's own answer",
      async () => {
        const lines = logText.trimEnd().split("\n");
        assert.equal(
          (await collectLog(client, alice, { ...logRequest, tailLines: 1n })).text,
          `${lines.at(-1)}\n`,
        );
        // An explicit 0 is a value: no lines, and no messages at all.
        assert.deepEqual(await collectLog(client, alice, { ...logRequest, tailLines: 0n }), {
          text: "",
          messages: 0,
        });
        assert.equal(
          (await collectLog(client, alice, { ...logRequest, limitBytes: 10n })).text,
          logText.slice(0, 10),
        );
        const stamped = (await collectLog(client, alice, { ...logRequest, timestamps: true })).text.trimEnd()
          .split("\n");
        assert.equal(stamped.length, lines.length);
        stamped.forEach((line, i) =>
          assert.match(line, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z ${lines[i]}$`))
        );
        const pastTime = timestampFromDate(new Date(Date.now() - 24 * 3600_000));
        const futureTime = timestampFromDate(new Date(Date.now() + 3600_000));
        assert.equal((await collectLog(client, alice, { ...logRequest, sinceTime: pastTime })).text, logText);
        assert.equal((await collectLog(client, alice, { ...logRequest, sinceTime: futureTime })).text, "");
        // sinceSeconds is relative to the log lines' times (written when the bed came up): the hub must give
        // exactly what the apiserver gives the admin for the same question.
        const base = `/api/v1/namespaces/${NS}/pods/${POD}/log`;
        for (const seconds of [1n, 100_000_000n]) {
          const direct = await adminGet(kc, `${base}?sinceSeconds=${seconds}`);
          assert.equal(direct.status, 200);
          const viaHub = await collectLog(client, alice, { ...logRequest, sinceSeconds: seconds });
          assert.equal(viaHub.text, decoder.decode(direct.body), `sinceSeconds=${seconds}`);
        }
        assert.equal(
          (await collectLog(client, alice, { ...logRequest, sinceSeconds: 100_000_000n })).text,
          logText,
        );
        // sinceSeconds=0 is sent (presence), and the apiserver refuses it.
        await expectCode(
          collectLog(client, alice, { ...logRequest, sinceSeconds: 0n }),
          Code.InvalidArgument,
        );
      },
    );

    await t.step("PodLog: previous (kwok has no previous log) maps the apiserver's answer", async () => {
      const direct = await adminGet(kc, `/api/v1/namespaces/${NS}/pods/${POD}/log?previous=true`);
      assert.notEqual(direct.status, 200, "kwok serves no previous log");
      const status = JSON.parse(decoder.decode(direct.body));
      const error = await expectCode(
        collectLog(client, alice, { ...logRequest, previous: true }),
        codeForKubeStatus(status, direct.status),
      );
      assert.ok(error.rawMessage.length > 0);
    });

    await t.step("PodLog: request and access errors", async () => {
      await expectCode(collectLog(client, alice, { ...logRequest, name: "" }), Code.InvalidArgument, /name/);
      await expectCode(collectLog(client, alice, { ...logRequest, name: "nope" }), Code.NotFound, /nope/);
      await expectCode(
        collectLog(client, alice, { ...logRequest, cluster: "gamma" }),
        Code.Unavailable,
        /gamma/,
      );
      const carol = await fleet.token("carol");
      await expectCode(collectLog(client, carol, logRequest), Code.PermissionDenied);
    });

    const openTerminal = (token: string, request: ExecOptions) =>
      new Terminal((signal) =>
        client.executeTTY({ cluster: "alpha", namespace: NS, name: POD, ...request }, auth(token, signal))
      );

    await t.step("ExecuteTTY: an interactive shell: write, read, resize, exit with a code", async () => {
      const shell = openTerminal(alice, { command: ["sh"], tty: true, rows: 24, cols: 80 });
      background.push(shell);
      await shell.waitFor("the session id", 15_000, () => shell.sessionId !== "");
      const first = shell.messages[0];
      assert.match(first.sessionId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
      assert.equal(first.stdout.length + first.stderr.length, 0);
      assert.equal(first.exit, undefined);
      const id = shell.sessionId;
      const write = (text: string) =>
        client.writeTTY({ sessionId: id, stdin: encoder.encode(text), cluster: "alpha" }, auth(alice));

      await write("echo marker-$((6*7))\n");
      await shell.waitForOutput(/marker-42/);
      await write("stty size\n");
      await shell.waitForOutput(/\b24 80\b/);
      await client.resizeTTY({ sessionId: id, rows: 33, cols: 101 }, auth(alice));
      await write("stty size\n");
      await shell.waitForOutput(/\b33 101\b/);
      await write("exit 3\n");
      assert.equal(await shell.waitForEnd(15_000), undefined);
      assert.deepEqual(
        { exited: shell.exit?.exited, code: shell.exit?.code, reason: shell.exit?.reason },
        { exited: true, code: 3, reason: "NonZeroExitCode" },
      );
      assert.ok(shell.messages.at(-1)?.exit, "the exit status comes last");
      assert.ok(shell.messages.slice(1).every((m) => m.sessionId === ""), "the id only in the first message");
      // The session is gone with its command.
      await expectCode(write("echo late\n"), Code.NotFound, /exec-session/);
      await expectCode(client.resizeTTY({ sessionId: id, rows: 1, cols: 1 }, auth(alice)), Code.NotFound);
    });

    await t.step("ExecuteTTY: without a terminal, stdout and stderr apart, then exit 0", async () => {
      const run = openTerminal(alice, { command: ["sh", "-c", "echo out; echo err >&2"] });
      assert.equal(await run.waitForEnd(15_000), undefined);
      assert.equal(run.stdout, "out\n");
      assert.equal(run.stderr, "err\n");
      const exit = run.exit;
      assert.deepEqual([exit?.exited, exit?.code, exit?.reason, exit?.message], [true, 0, "", ""]);
      assert.ok(run.messages.every((m) => m.stdout.length === 0 || m.stderr.length === 0));
      await expectCode(
        client.resizeTTY({ sessionId: run.sessionId, rows: 10, cols: 10 }, auth(alice)),
        Code.NotFound,
      );
    });

    await t.step("ExecuteTTY: a command that cannot run is reported in the exit status", async () => {
      const run = openTerminal(alice, { command: ["/nonexistent/command"] });
      assert.equal(await run.waitForEnd(15_000), undefined);
      assert.equal(run.exit?.exited, false);
      assert.notEqual(run.exit?.reason, "");
      assert.match(run.exit?.message ?? "", /nonexistent/);
    });

    await t.step("a session id is only found by its owner, on its cluster", async () => {
      const shell = openTerminal(alice, { command: ["sh"], tty: true });
      background.push(shell);
      await shell.waitFor("the session id", 15_000, () => shell.sessionId !== "");
      const id = shell.sessionId;
      const unknown = crypto.randomUUID();
      const stolen = await expectCode(
        client.writeTTY({ sessionId: id, stdin: encoder.encode("echo pwned > owned\n") }, auth(bob)),
        Code.NotFound,
      );
      const missing = await expectCode(
        client.writeTTY({ sessionId: unknown, stdin: encoder.encode("x") }, auth(bob)),
        Code.NotFound,
      );
      // Nothing tells an existing id from an unknown one.
      assert.equal(stolen.rawMessage.replace(id, "<id>"), missing.rawMessage.replace(unknown, "<id>"));
      await expectCode(client.resizeTTY({ sessionId: id, rows: 5, cols: 5 }, auth(bob)), Code.NotFound);
      await expectCode(
        client.writeTTY({ sessionId: id, stdin: encoder.encode("x"), cluster: "beta" }, auth(alice)),
        Code.NotFound,
      );
      await expectCode(
        client.writePortForward({ sessionId: id, data: encoder.encode("x") }, auth(alice)),
        Code.NotFound,
        /portforward-session/,
      );
      // The owner still can, and nothing bob sent arrived.
      await client.writeTTY({ sessionId: id, stdin: encoder.encode("echo owner-$((1+1))\n") }, auth(alice));
      await shell.waitForOutput(/owner-2/);
      assert.doesNotMatch(shell.stdout, /pwned/);

      // Cancelling the stream ends the session.
      await shell.cancel();
      await until("the cancelled session to be gone", 10_000, async () => {
        try {
          await client.writeTTY({ sessionId: id, stdin: encoder.encode("x") }, auth(alice));
          return undefined;
        } catch (error) {
          return ConnectError.from(error).code === Code.NotFound ? true : undefined;
        }
      });
    });

    await t.step(
      "ExecuteTTY: start failures fail the stream with their code, before any message",
      async () => {
        for (
          const [who, request, code] of [
            [bob, { command: ["sh"] }, Code.PermissionDenied],
            [alice, { command: ["sh"], name: "nope" }, Code.NotFound],
            [alice, { command: ["sh"], cluster: "gamma" }, Code.Unavailable],
            [alice, { command: [] }, Code.InvalidArgument],
            [alice, { command: ["sh"], rows: 70_000 }, Code.InvalidArgument],
            [alice, { command: ["sh"], container: "other" }, Code.InvalidArgument],
          ] as [string, ExecOptions, Code][]
        ) {
          const run = openTerminal(who, request);
          const error = await run.waitForEnd(15_000);
          assert.equal(
            error && Code[error.code],
            Code[code],
            `${JSON.stringify(request)}: ${error?.rawMessage}`,
          );
          assert.equal(run.messages.length, 0, JSON.stringify(request));
        }
      },
    );

    const openForward = (token: string, request: { name?: string; port?: number } = {}) =>
      new StreamRecorder((signal) =>
        client.portForward(
          { cluster: "alpha", namespace: NS, name: POD, port: 8080, ...request },
          auth(token, signal),
        )
      );
    const received = (forward: StreamRecorder<{ sessionId: string; data: Uint8Array }>) =>
      concatBytes(forward.messages.map((m) => m.data));

    await t.step("PortForward: 64 MiB to a real listener and back, intact", async () => {
      const forward = openForward(alice);
      background.push(forward);
      await forward.waitFor("the session id", 15_000, () => forward.messages.length > 0);
      const id = forward.messages[0].sessionId;
      assert.notEqual(id, "");
      // The echo server answers a request with a greeting, the request line and the body (as text).
      const body = randomHex(64 * 1024 * 1024);
      const head = encoder.encode(
        `POST /bulk HTTP/1.1\r\nHost: pod\r\nContent-Length: ${body.length}\r\n\r\n`,
      );
      const started = performance.now();
      await client.writePortForward({ sessionId: id, data: head }, auth(alice));
      for (let offset = 0; offset < body.length; offset += 1024 * 1024) {
        await client.writePortForward(
          { sessionId: id, data: body.subarray(offset, offset + 1024 * 1024) },
          auth(alice),
        );
      }
      const greeting = "hello from testbed alpha\nPOST /bulk\n";
      const expected = greeting.length + body.length;
      let headEnd = -1;
      await forward.waitFor("the echoed 64 MiB", 120_000, () => {
        const total = forward.messages.reduce((n, m) => n + m.data.length, 0);
        if (headEnd < 0) headEnd = decoder.decode(received(forward).subarray(0, 4096)).indexOf("\r\n\r\n");
        return headEnd >= 0 && total - headEnd - 4 >= expected;
      });
      const seconds = (performance.now() - started) / 1000;
      console.error(`port-forward: 64 MiB up and back through the hub in ${seconds.toFixed(1)} s`);
      const bytes = received(forward);
      const echoed = bytes.subarray(headEnd + 4);
      assert.equal(echoed.length, expected);
      assert.equal(decoder.decode(echoed.subarray(0, greeting.length)), greeting);
      assert.equal(sha256(echoed.subarray(greeting.length)), sha256(body));
      assert.ok(forward.messages.every((m) => m.data.length <= 32 * 1024));
      await forward.cancel();
      await until("the cancelled forward to be gone", 10_000, async () => {
        try {
          await client.writePortForward({ sessionId: id, data: encoder.encode("x") }, auth(alice));
          return undefined;
        } catch (error) {
          return ConnectError.from(error).code === Code.NotFound ? true : undefined;
        }
      });
    });

    await t.step(
      "PortForward: the listener closing the connection ends the stream; the error channel is surfaced",
      async () => {
        const forward = openForward(alice);
        background.push(forward);
        await forward.waitFor("the session id", 15_000, () => forward.messages.length > 0);
        const id = forward.messages[0].sessionId;
        await client.writePortForward({
          sessionId: id,
          data: encoder.encode("GET /bye HTTP/1.1\r\nHost: pod\r\nConnection: close\r\n\r\n"),
        }, auth(alice));
        await forward.waitFor(
          "the answer",
          15_000,
          () => decoder.decode(received(forward)).includes("GET /bye"),
        );
        // A kubelet ends a forwarded connection once the listener closes it; kwok only once a write towards the
        // closed listener fails, and then reports that failure on the error channel. So: write until the
        // stream ends, and see the kubelet's error message surface as the stream's error.
        await until("the stream to end", 15_000, async () => {
          if (forward.ended) return true;
          await client.writePortForward({ sessionId: id, data: encoder.encode("\r\n") }, auth(alice)).catch(
            () => {},
          );
          return undefined;
        });
        const error = forward.error;
        assert.equal(error && Code[error.code], Code[Code.Unavailable], error?.rawMessage);
        assert.match(error!.rawMessage, /error forwarding port 8080 to pod shell/);
        assert.doesNotMatch(error!.rawMessage, /127\.0\.0\.1/, "addresses are scrubbed");
      },
    );

    await t.step("PortForward: request, access and limit errors", async () => {
      for (
        const [who, request, code] of [
          [bob, {}, Code.PermissionDenied],
          [alice, { name: "nope" }, Code.NotFound],
          [alice, { port: 0 }, Code.InvalidArgument],
          [alice, { port: 70_000 }, Code.InvalidArgument],
        ] as [string, { name?: string; port?: number }, Code][]
      ) {
        const forward = openForward(who, request);
        const error = await forward.waitForEnd(15_000);
        assert.equal(
          error && Code[error.code],
          Code[code],
          `${JSON.stringify(request)}: ${error?.rawMessage}`,
        );
        assert.equal(forward.messages.length, 0);
      }
      // 16 sessions per user and kind; the 17th is refused while they are open.
      const open = Array.from({ length: 16 }, () => openForward(alice));
      background.push(...open);
      for (const forward of open) {
        await forward.waitFor("the session id", 15_000, () => forward.messages.length > 0);
      }
      const extra = openForward(alice);
      assert.equal(
        Code[(await extra.waitForEnd(15_000))?.code ?? Code.Unknown],
        Code[Code.ResourceExhausted],
      );
      await Promise.all(open.map((forward) => forward.cancel()));
      // A cancel is seen by the hub a moment after the client gave up: wait until it has let go of all 16
      // (its session gauge counts what the limit counts), or the next one could still be refused.
      await until("the hub to close the cancelled forwards", 30_000, () => openSessions("portforward", 0));
      const again = openForward(alice);
      background.push(again);
      await again.waitFor("a session once the others closed", 15_000, () => again.messages.length > 0);
      await again.cancel();
    });

    await t.step("Scale to 3 yields 3 pods; GetScale reports it", async () => {
      await apps.createNamespacedDeployment({
        namespace: NS,
        body: {
          metadata: { name: "web" },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: "web" } },
            template: {
              metadata: { labels: { app: "web" } },
              spec: {
                containers: [{ name: "app", image: "registry.invalid/testbed/web:1" }],
                nodeSelector: { type: "kwok" },
              },
            },
          },
        },
      });
      const target = {
        cluster: "alpha",
        group: "apps",
        version: "v1",
        resource: "deployments",
        namespace: NS,
        name: "web",
      };
      const scaled = await client.scale({ ...target, replicas: 3 }, auth(alice));
      assert.equal(scaled.replicas, 3);
      const pods = await until("3 web pods Running", 60_000, async () => {
        const list = await core.listNamespacedPod({ namespace: NS, labelSelector: "app=web" });
        const running = list.items.filter((p) =>
          p.status?.phase === "Running" && !p.metadata?.deletionTimestamp
        );
        return running.length === 3 && list.items.length === 3 ? running : undefined;
      });
      assert.equal(pods.length, 3);
      const scale = await until("GetScale to see 3 current replicas", 30_000, async () => {
        const answer = await client.getScale(target, auth(alice));
        return answer.currentReplicas === 3 ? answer : undefined;
      });
      assert.deepEqual([scale.replicas, scale.selector], [3, "app=web"]);
      // bob may read the scale but not change it.
      assert.equal((await client.getScale(target, auth(bob))).replicas, 3);
      await expectCode(client.scale({ ...target, replicas: 1 }, auth(bob)), Code.PermissionDenied);
      await expectCode(client.scale({ ...target, replicas: -1 }, auth(alice)), Code.InvalidArgument);
      await expectCode(
        client.scale(
          { ...target, resource: "configmaps", group: "", name: "kube-root-ca.crt", replicas: 1 },
          auth(alice),
        ),
        Code.InvalidArgument,
        /scale subresource/,
      );
      await expectCode(client.getScale({ ...target, name: "nope" }, auth(alice)), Code.NotFound);
      await expectCode(client.getScale({ ...target, namespace: "" }, auth(alice)), Code.InvalidArgument);
    });

    await t.step(
      "Restart rolls the pods: a new template annotation, a new ReplicaSet, new pods",
      async () => {
        const before = await core.listNamespacedPod({ namespace: NS, labelSelector: "app=web" });
        const oldPods = new Set(before.items.map((p) => p.metadata!.name!));
        const oldSets = new Set(
          (await apps.listNamespacedReplicaSet({ namespace: NS, labelSelector: "app=web" })).items.map((r) =>
            r.metadata!.name!
          ),
        );
        const target = {
          cluster: "alpha",
          group: "apps",
          version: "v1",
          resource: "deployments",
          namespace: NS,
          name: "web",
        };
        const startedAt = Math.floor(Date.now() / 1000) * 1000;
        await client.restart(target, auth(alice));
        const deployment = await apps.readNamespacedDeployment({ name: "web", namespace: NS });
        const stamp =
          deployment.spec?.template.metadata?.annotations?.["kubectl.kubernetes.io/restartedAt"] ?? "";
        assert.match(stamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
        assert.ok(Date.parse(stamp) >= startedAt, stamp);
        await until("a new ReplicaSet and 3 new pods", 90_000, async () => {
          const sets = await apps.listNamespacedReplicaSet({ namespace: NS, labelSelector: "app=web" });
          const fresh = sets.items.filter((r) => !oldSets.has(r.metadata!.name!));
          const pods = await core.listNamespacedPod({ namespace: NS, labelSelector: "app=web" });
          const live = pods.items.filter((p) => !p.metadata?.deletionTimestamp);
          const replaced = live.length === 3 &&
            live.every((p) => !oldPods.has(p.metadata!.name!) && p.status?.phase === "Running");
          return fresh.length === 1 && replaced ? true : undefined;
        });
        await expectCode(client.restart(target, auth(bob)), Code.PermissionDenied);
        await expectCode(
          client.restart(
            { ...target, group: "", resource: "configmaps", name: "kube-root-ca.crt" },
            auth(alice),
          ),
          Code.InvalidArgument,
        );
        await expectCode(
          client.restart({ ...target, resource: "deployment" }, auth(alice)),
          Code.InvalidArgument,
        );
      },
    );

    await t.step("the hub's metrics count session starts by outcome and open sessions", async () => {
      const samples = await metrics();
      const starts = (kind: string, outcome: string) =>
        findSample(samples, "otterscale_runtime_session_starts_total", { kind, outcome })?.value ?? 0;
      // As opened above: 4 shells and commands; 19 forwards (bulk, close, 16 at the limit, one after).
      assert.deepEqual(
        ["ok", "PermissionDenied", "NotFound", "Unavailable", "InvalidArgument"].map((o) =>
          starts("exec", o)
        ),
        [4, 1, 1, 1, 1],
      );
      assert.deepEqual(
        ["ok", "PermissionDenied", "NotFound", "ResourceExhausted"].map((o) => starts("portforward", o)),
        [19, 1, 1, 1],
      );
      // Every exec and port-forward session has ended (only the follow log still streams).
      await until("no open sessions", 30_000, async () => {
        const exec = await openSessions("exec", 0);
        return exec && await openSessions("portforward", 0);
      });
    });

    await t.step(
      "PodLog: the follow stream is still open after more than 30 s, and a cancel ends it",
      async () => {
        const waited = Date.now() - followStarted;
        if (waited < 35_000) await new Promise((resolve) => setTimeout(resolve, 35_000 - waited));
        assert.equal(follow!.ended, false, follow!.error?.rawMessage);
        await follow!.cancel();
        assert.equal(follow!.ended, true);
      },
    );
  } finally {
    await Promise.all(background.map((stream) => stream.cancel()));
    await core.deleteNamespace({ name: NS }).catch(() => {});
    await fleet.close();
  }
});
