/**
 * The SPDY/3.1 fallback of exec and port-forward, end to end against the test bed's real apiserver and kwok
 * pods:
 * - the transport alone: SPDY streams straight to the apiserver (the real Go SPDY peer, its real zlib);
 * - the whole path: Keycloak users, hub, tunnel and agent, with a proxy between agent and apiserver that
 *   refuses every WebSocket upgrade, so the hub must fall back to SPDY for the RuntimeService to work.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import tls from "node:tls";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as k8s from "@kubernetes/client-node";
import {
  type ExecuteTTYResponse,
  RuntimeService,
} from "../../shared/gen/otterscale/runtime/v1/runtime_pb.ts";
import { openSpdyChannels, spdyPlanFor } from "../../server/clusters/spdy_channels.ts";
import { startFleet } from "../support/fleet.ts";
import { startAgentProcess } from "../support/agent_process.ts";
import { repoRoot } from "../support/repo.ts";
import { startWebSocketRefusingProxy } from "../support/websocket_refusing_proxy.ts";
import { until } from "../support/expect.ts";
import { ensureTestbed } from "../testbed/testbed.ts";
import { concatBytes } from "../../shared/bytes.ts";
import { randomHex } from "../support/random_hex.ts";

const RUN = crypto.randomUUID().slice(0, 6);
const NS = `e2e-spdy-${RUN}`;
const POD = "shell";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

Deno.test("SPDY/3.1 straight to the test bed's apiserver: exec and port-forward streams", async (t) => {
  const testbed = await ensureTestbed();
  const alpha = testbed.clusters.find((c) => c.name === "alpha")!;
  const pki = alpha.caFile.replace(/ca\.crt$/, "");
  const connect = () =>
    tls.connect({
      host: "127.0.0.1",
      port: alpha.ports.apiserver,
      ca: readFileSync(alpha.caFile),
      cert: readFileSync(`${pki}admin.crt`),
      key: readFileSync(`${pki}admin.key`),
    });
  const podPath = `/api/v1/namespaces/${alpha.demo.namespace}/pods/${alpha.demo.pod}`;

  await t.step("exec: stdout and stderr apart, then the v4 Status on the error stream", async () => {
    const query = new URLSearchParams([
      ["command", "sh"],
      ["command", "-c"],
      ["command", "echo out; echo err >&2; exit 3"],
      ["stdin", "true"],
      ["stdout", "true"],
      ["stderr", "true"],
    ]);
    const path = `${podPath}/exec?${query}`;
    const channels = await openSpdyChannels(connect(), { path, host: "apiserver" }, spdyPlanFor(path)!);
    assert.equal(channels.protocol, "v4.channel.k8s.io");
    const byChannel = new Map<number, Uint8Array[]>();
    for (let message = await channels.read(); message; message = await channels.read()) {
      byChannel.set(message[0], [...(byChannel.get(message[0]) ?? []), message.subarray(1)]);
    }
    await channels.close();
    assert.equal(decoder.decode(concatBytes(byChannel.get(1) ?? [])), "out\n");
    assert.equal(decoder.decode(concatBytes(byChannel.get(2) ?? [])), "err\n");
    const status = JSON.parse(decoder.decode(concatBytes(byChannel.get(3) ?? [])));
    assert.equal(status.status, "Failure");
    assert.match(status.message, /exit status 3/);
  });

  await t.step("port-forward: the port prefixes, then the listener's answer on the data stream", async () => {
    const path = `${podPath}/portforward?ports=${alpha.demo.podPort}`;
    const channels = await openSpdyChannels(connect(), { path, host: "apiserver" }, spdyPlanFor(path)!);
    assert.equal(channels.protocol, "portforward.k8s.io");
    const port = alpha.demo.podPort;
    assert.deepEqual([...(await channels.read())!], [0, port & 0xff, port >> 8]);
    assert.deepEqual([...(await channels.read())!], [1, port & 0xff, port >> 8]);
    await channels.send([Uint8Array.of(0), encoder.encode("GET /spdy HTTP/1.1\r\nHost: pod\r\n\r\n")]);
    let answer = "";
    while (!answer.includes("GET /spdy\n")) {
      const message = await channels.read();
      assert.ok(message, `the stream ended early after ${JSON.stringify(answer)}`);
      assert.equal(message[0], 0);
      answer += decoder.decode(message.subarray(1));
    }
    assert.match(answer, /^HTTP\/1\.1 200 OK/);
    assert.ok(answer.includes(`${alpha.demo.greeting}\nGET /spdy\n`));
    await channels.close();
  });
});

Deno.test("RuntimeService falls back to SPDY/3.1 when a proxy refuses WebSocket upgrades", async (t) => {
  const fleet = await startFleet({ clusters: [] });
  const alpha = fleet.testbed.clusters.find((c) => c.name === "alpha")!;
  const proxy = await startWebSocketRefusingProxy(new URL(alpha.server), alpha.caFile);
  // The agent may only read below .testbed (its production permissions); the copy lives there for the run.
  const dir = `${repoRoot}/.testbed/tmp/e2e-spdy-${RUN}`;
  await Deno.mkdir(dir, { recursive: true });
  const kubeconfig = `${dir}/agent.kubeconfig`;
  const original = await Deno.readTextFile(alpha.agentKubeconfig);
  await Deno.writeTextFile(
    kubeconfig,
    original.replace(/server: https:\/\/[^\s]+/, `server: http://127.0.0.1:${proxy.port}`),
  );
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(alpha.kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
  const agent = await startAgentProcess({
    cluster: "alpha",
    hubUrl: fleet.hub.url,
    tunnelPort: fleet.hub.tunnelPort,
    kubeconfig,
    enrolmentToken: await fleet.enrolmentToken("alpha"),
  });
  const client = createClient(
    RuntimeService,
    createConnectTransport({ baseUrl: fleet.hub.url, httpVersion: "1.1" }),
  );
  const auth = (token: string, signal?: AbortSignal) => ({
    headers: { authorization: `Bearer ${token}` },
    signal,
  });

  try {
    await core.createNamespace({ body: { metadata: { name: NS, labels: { "otterscale.test/run": RUN } } } });
    await rbac.createNamespacedRoleBinding({
      namespace: NS,
      body: {
        metadata: { name: "platform-admins" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "admin" },
        subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "oidc:platform-admins" }],
      },
    });
    await core.createNamespacedPod({
      namespace: NS,
      body: {
        metadata: { name: POD },
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
    const target = { cluster: "alpha", namespace: NS, name: POD };

    /** Runs an exec to its end; RBAC bindings reach the authorizer within a moment, so it retries briefly. */
    const runExec = async (command: string[]) => {
      return await until("alice may exec", 15_000, async () => {
        const messages: ExecuteTTYResponse[] = [];
        try {
          for await (const message of client.executeTTY({ ...target, command }, auth(alice))) {
            messages.push(message);
          }
        } catch (error) {
          if (ConnectError.from(error).code === Code.PermissionDenied) return undefined;
          throw error;
        }
        return messages;
      });
    };

    await t.step("exec: output, stderr and a non-zero exit code over SPDY", async () => {
      const refusedBefore = proxy.refusedWebSockets;
      const spdyBefore = proxy.spdyUpgrades;
      const messages = await runExec(["sh", "-c", "echo hello-spdy; echo oops >&2; exit 7"]);
      assert.notEqual(messages[0].sessionId, "");
      const stdout = decoder.decode(concatBytes(messages.map((m) => m.stdout)));
      const stderr = decoder.decode(concatBytes(messages.map((m) => m.stderr)));
      assert.equal(stdout, "hello-spdy\n");
      assert.equal(stderr, "oops\n");
      const exit = messages.at(-1)?.exit;
      assert.deepEqual([exit?.exited, exit?.code, exit?.reason], [true, 7, "NonZeroExitCode"]);
      // The proof that it went over SPDY: the proxy refused the WebSocket and passed a SPDY upgrade.
      assert.ok(proxy.refusedWebSockets > refusedBefore, "the WebSocket upgrade was refused");
      assert.ok(proxy.spdyUpgrades > spdyBefore, "a SPDY upgrade went through");
    });

    await t.step("exec with a terminal over SPDY: write, resize, exit 0", async () => {
      const messages: ExecuteTTYResponse[] = [];
      const controller = new AbortController();
      const done = (async () => {
        for await (
          const message of client.executeTTY(
            { ...target, command: ["sh"], tty: true, rows: 24, cols: 80 },
            auth(alice, controller.signal),
          )
        ) messages.push(message);
      })();
      done.catch(() => {}); // awaited below; a failure before that must not be unhandled
      const stdout = () => decoder.decode(concatBytes(messages.map((m) => m.stdout)));
      try {
        await until("the session id", 15_000, () => Promise.resolve(messages[0]?.sessionId || undefined));
        const write = (text: string) =>
          client.writeTTY({ sessionId: messages[0].sessionId, stdin: encoder.encode(text) }, auth(alice));
        await write("stty size\n");
        await until("the first size", 15_000, () => Promise.resolve(/\b24 80\b/.test(stdout()) || undefined));
        await client.resizeTTY({ sessionId: messages[0].sessionId, rows: 40, cols: 120 }, auth(alice));
        // The resize travels on its own stream, so the shell may run a command before it applies: ask again.
        await until("the new size", 15_000, async () => {
          if (/\b40 120\b/.test(stdout())) return true;
          await write("stty size\n");
          await new Promise((resolve) => setTimeout(resolve, 200));
          return undefined;
        });
        await write("exit\n");
        await done;
        const exit = messages.at(-1)?.exit;
        assert.deepEqual([exit?.exited, exit?.code], [true, 0]);
      } finally {
        controller.abort();
        await done.catch(() => {});
      }
    });

    await t.step(
      "a caller without RBAC is still refused as permission_denied after the fallback",
      async () => {
        const error = await (async () => {
          try {
            for await (const _ of client.executeTTY({ ...target, command: ["true"] }, auth(bob))) {
              // No message may come.
              return undefined;
            }
          } catch (error) {
            return ConnectError.from(error);
          }
        })();
        assert.equal(error && Code[error.code], Code[Code.PermissionDenied], error?.rawMessage);
      },
    );

    await t.step("port-forward: 4 MiB to the pod's listener and back, intact, over SPDY", async () => {
      const spdyBefore = proxy.spdyUpgrades;
      const controller = new AbortController();
      const received: Uint8Array[] = [];
      let sessionId = "";
      const done = (async () => {
        for await (
          const message of client.portForward(
            { ...target, port: alpha.demo.podPort },
            auth(alice, controller.signal),
          )
        ) {
          if (message.sessionId) sessionId = message.sessionId;
          if (message.data.length > 0) received.push(message.data);
        }
      })();
      done.catch(() => {}); // the cancel at the end rejects it
      try {
        await until("the session id", 15_000, () => Promise.resolve(sessionId || undefined));
        const body = randomHex(4 * 1024 * 1024);
        const head = encoder.encode(
          `POST /bulk HTTP/1.1\r\nHost: pod\r\nContent-Length: ${body.length}\r\n\r\n`,
        );
        await client.writePortForward({ sessionId, data: head }, auth(alice));
        for (let offset = 0; offset < body.length; offset += 512 * 1024) {
          await client.writePortForward(
            { sessionId, data: body.subarray(offset, offset + 512 * 1024) },
            auth(alice),
          );
        }
        const greeting = `${alpha.demo.greeting}\nPOST /bulk\n`;
        let headEnd = -1;
        await until("the echoed 4 MiB", 60_000, () => {
          const bytes = concatBytes(received);
          if (headEnd < 0) headEnd = decoder.decode(bytes.subarray(0, 4096)).indexOf("\r\n\r\n");
          return Promise.resolve(
            headEnd >= 0 && bytes.length - headEnd - 4 >= greeting.length + body.length ? true : undefined,
          );
        }).catch((error) => {
          throw new Error(`${error.message}; ${concatBytes(received).length} bytes arrived`);
        });
        const echoed = concatBytes(received).subarray(headEnd + 4);
        assert.equal(echoed.length, greeting.length + body.length);
        assert.equal(decoder.decode(echoed.subarray(0, greeting.length)), greeting);
        assert.equal(sha256(echoed.subarray(greeting.length)), sha256(body));
        assert.ok(received.every((chunk) => chunk.length <= 32 * 1024));
        assert.ok(proxy.spdyUpgrades > spdyBefore, "the port-forward went over SPDY");
      } finally {
        controller.abort();
        await done.catch(() => {});
      }
    });
  } finally {
    await core.deleteNamespace({ name: NS }).catch(() => {});
    await agent.stop();
    await fleet.close();
    await proxy.close();
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(`${repoRoot}/.testbed/tmp`).catch(() => {}); // only when no other run uses it
  }
});
