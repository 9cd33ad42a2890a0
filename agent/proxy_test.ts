// The agent's reverse proxy against a real kube-apiserver (test bed cluster alpha), as the hub uses it:
// HTTP/1.1 over connections handed to the proxy, impersonating an OIDC user.
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createLogger, type LogLevel } from "../shared/log.ts";
import { ensureTestbed } from "../tests/testbed/testbed.ts";
import { loadKubeTarget } from "./kube_target.ts";
import { createKubeProxy } from "./proxy.ts";
import {
  AdminClient,
  ByteReader,
  headerIn,
  ProxyClient,
  rawRequest,
  type RequestHeaders,
  waitFor,
  webSocketRequest,
} from "./proxy_test_helpers.ts";

const RUN = crypto.randomUUID().slice(0, 8);
/** A group of this run only, so the bindings made here cannot change what other suites on the bed see. */
const GROUP = `proxy-test-${RUN}`;
const NAMESPACE = `proxy-test-${RUN}`;
const OTHER_NAMESPACE = `proxy-test-${RUN}-b`;
const LABEL = `otterscale.test/proxy-run=${RUN}`;

function asAlice(extra: RequestHeaders = {}): RequestHeaders {
  return {
    "impersonate-user": "alice",
    "impersonate-group": ["system:authenticated", `oidc:${GROUP}`],
    ...extra,
  };
}

interface LogLine {
  level: LogLevel;
  msg: string;
  [field: string]: unknown;
}

function capturingLogger() {
  const lines: LogLine[] = [];
  const log = createLogger("debug", {}, (line) => lines.push(JSON.parse(line)));
  return { log, lines };
}

function namespaceObject(name: string) {
  return {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name, labels: { "otterscale.test/proxy-run": RUN } },
  };
}

function binding(
  kind: "ClusterRoleBinding" | "RoleBinding",
  name: string,
  role: { kind: string; name: string },
) {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind,
    metadata: { name },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", ...role },
    subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: `oidc:${GROUP}` }],
  };
}

Deno.test("kube proxy: requests, policy, streaming and upgrades against the test bed", async (t) => {
  const bed = await ensureTestbed();
  const alpha = bed.clusters.find((cluster) => cluster.name === "alpha");
  assert.ok(alpha, "the test bed has cluster alpha");
  const admin = new AdminClient(loadKubeTarget({ kubeconfigPath: alpha.kubeconfig }));
  const { log, lines } = capturingLogger();
  const proxy = createKubeProxy({ target: loadKubeTarget({ kubeconfigPath: alpha.agentKubeconfig }), log });
  const client = new ProxyClient(proxy);
  const clusterBinding = `proxy-test-${RUN}-view`;
  const demo = alpha.demo;
  try {
    await t.step("impersonation reaches the apiserver: 403 from RBAC, then 200 once bound", async () => {
      const denied = await client.request("GET", "/api/v1/namespaces", asAlice());
      assert.equal(denied.status, 403);
      const status = JSON.parse(denied.text);
      assert.equal(status.kind, "Status");
      assert.match(
        status.message,
        /User "alice" cannot list resource "namespaces"/,
        "the apiserver's RBAC answered",
      );

      await admin.expect([201], "POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
        ...binding("ClusterRoleBinding", clusterBinding, { kind: "ClusterRole", name: "view" }),
      });
      await admin.expect([201], "POST", "/api/v1/namespaces", namespaceObject(NAMESPACE));
      await admin.expect([201], "POST", "/api/v1/namespaces", namespaceObject(OTHER_NAMESPACE));
      const allowed = await waitForStatus(client, "/api/v1/namespaces", asAlice(), 200);
      const names = JSON.parse(allowed.text).items.map((item: { metadata: { name: string } }) =>
        item.metadata.name
      );
      assert.ok(names.includes("demo") && names.includes(NAMESPACE), `namespaces listed: ${names}`);
    });

    await t.step("the agent refuses requests it must not forward, before the apiserver", async () => {
      const cases: [RequestHeaders, RegExp][] = [
        [{}, /only serves impersonated requests/],
        [{ "impersonate-user": "alice", "impersonate-group": "system:masters" }, /not system:masters/],
        [asAlice({ "impersonate-group": ["system:authenticated", "system:masters"] }), /not system:masters/],
        [{ "impersonate-user": "system:admin" }, /system users \(system:admin\)/],
        [{ "impersonate-user": "system:serviceaccount:kube-system:default" }, /system users/],
        [asAlice({ "impersonate-extra-foo": "bar" }), /Impersonate-Extra-foo|impersonate-extra-foo/],
        [asAlice({ "impersonate-uid": "1234" }), /impersonate-uid/i],
      ];
      const refusedBefore = proxy.stats().refused;
      for (const [headers, message] of cases) {
        const reply = await client.request("GET", "/api/v1/namespaces", headers);
        assert.equal(reply.status, 403, JSON.stringify(headers));
        assert.equal(reply.headers["content-type"], "application/json");
        const { message: text, ...status } = JSON.parse(reply.text);
        assert.deepEqual(status, {
          kind: "Status",
          apiVersion: "v1",
          metadata: {},
          status: "Failure",
          reason: "Forbidden",
          code: 403,
        });
        assert.match(text, message);
      }
      assert.equal(proxy.stats().refused - refusedBefore, cases.length);
      const warnings = lines.filter((line) => line.level === "warn" && line.msg === "refused request");
      assert.ok(warnings.length >= cases.length, `${warnings.length} refusals logged at warn`);
      assert.ok(warnings.some((line) => line.user === "system:admin"));
    });

    await t.step(
      "an Authorization header from the caller is dropped; the agent's credentials are used",
      async () => {
        const reply = await client.request(
          "GET",
          "/api/v1/namespaces/demo",
          asAlice({ authorization: "Bearer garbage" }),
        );
        assert.equal(reply.status, 200, reply.text);
        assert.equal(JSON.parse(reply.text).metadata.name, "demo");
      },
    );

    await t.step("path and query reach the apiserver unchanged", async () => {
      const one = await client.request("GET", `/api/v1/namespaces/${NAMESPACE}`, asAlice());
      assert.equal(one.status, 200);
      assert.equal(JSON.parse(one.text).kind, "Namespace");
      assert.equal(JSON.parse(one.text).metadata.name, NAMESPACE);

      const selector = encodeURIComponent(LABEL);
      const both = JSON.parse(
        (await client.request("GET", `/api/v1/namespaces?labelSelector=${selector}`, asAlice())).text,
      );
      assert.deepEqual(both.items.map((item: { metadata: { name: string } }) => item.metadata.name).sort(), [
        NAMESPACE,
        OTHER_NAMESPACE,
      ]);
      const page = await client.request(
        "GET",
        `/api/v1/namespaces?labelSelector=${selector}&limit=1`,
        asAlice(),
      );
      const list = JSON.parse(page.text);
      assert.equal(list.items.length, 1);
      assert.ok(list.metadata.continue, "a continue token for the second page");
    });

    await admin.expect(
      [201],
      "POST",
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${NAMESPACE}/rolebindings`,
      {
        ...binding("RoleBinding", "proxy-test-edit", { kind: "ClusterRole", name: "edit" }),
      },
    );

    await t.step("POST with a body creates, DELETE deletes", async () => {
      const path = `/api/v1/namespaces/${NAMESPACE}/configmaps`;
      const configMap = {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "posted" },
        data: { greeting: "hi" },
      };
      const created = await waitForStatus(
        client,
        path,
        asAlice({ "content-type": "application/json" }),
        201,
        {
          method: "POST",
          body: JSON.stringify(configMap),
        },
      );
      assert.equal(JSON.parse(created.text).data.greeting, "hi");
      const read = await admin.expect([200], "GET", `${path}/posted`);
      assert.equal(JSON.parse(read.text).data.greeting, "hi", "the body reached the apiserver intact");

      const deleted = await client.request("DELETE", `${path}/posted`, asAlice());
      assert.equal(deleted.status, 200, deleted.text);
      await admin.expect([404], "GET", `${path}/posted`);
    });

    await t.step("a watch streams each event as it happens", async () => {
      const collection = `/api/v1/namespaces/${NAMESPACE}/configmaps`;
      const listed = await client.request("GET", collection, asAlice());
      // From the list's version on, so no event is due until the create below: the status line and headers
      // must reach the client before any event does.
      const since = JSON.parse(listed.text).metadata.resourceVersion;
      const path = `${collection}?watch=1&allowWatchBookmarks=true&resourceVersion=${since}`;
      const activeBefore = proxy.stats().activeRequests;
      const { response, request } = await openStream(client, path, asAlice());
      assert.equal(response.statusCode, 200);
      let received = "";
      response.on("data", (chunk: Uint8Array) => (received += Buffer.from(chunk).toString("utf8")));
      const createdAt = performance.now();
      await admin.expect([201], "POST", `/api/v1/namespaces/${NAMESPACE}/configmaps`, {
        apiVersion: "v1",
        kind: "ConfigMap",
        metadata: { name: "watched" },
      });
      await waitFor(() => /"type":"ADDED".*"name":"watched"/.test(received), "the ADDED event", 1_000);
      const latency = performance.now() - createdAt;
      assert.ok(latency < 1_000, `event after ${latency} ms`);
      assert.equal(response.complete, false, "the watch is still open");
      request.destroy();
      await waitFor(
        () => proxy.stats().activeRequests === activeBefore,
        "the proxy to end the upstream watch",
      );
    });

    await t.step("several requests share one kept-alive connection", async () => {
      const single = new ProxyClient(proxy);
      try {
        const connectionsBefore = proxy.stats().connections;
        for (let i = 0; i < 5; i++) {
          const reply = await single.request("GET", `/api/v1/namespaces/${NAMESPACE}`, asAlice());
          assert.equal(reply.status, 200);
        }
        assert.equal(single.connectionsMade, 1);
        assert.equal(proxy.stats().connections - connectionsBefore, 1);
      } finally {
        single.close();
      }
    });

    await admin.expect(
      [201],
      "POST",
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${demo.namespace}/roles`,
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "Role",
        metadata: { name: `proxy-test-${RUN}-exec` },
        rules: [
          { apiGroups: [""], resources: ["pods"], verbs: ["get"] },
          { apiGroups: [""], resources: ["pods/exec"], verbs: ["get", "create"] },
        ],
      },
    );
    await admin.expect(
      [201],
      "POST",
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${demo.namespace}/rolebindings`,
      {
        ...binding("RoleBinding", `proxy-test-${RUN}-exec`, { kind: "Role", name: `proxy-test-${RUN}-exec` }),
      },
    );
    const execPath = `/api/v1/namespaces/${demo.namespace}/pods/${demo.pod}/exec` +
      `?container=${demo.container}&command=echo&command=hi&stdout=true&stderr=true`;
    const aliceLines: [string, string][] = [
      ["Impersonate-User", "alice"],
      ["Impersonate-Group", "system:authenticated"],
      ["Impersonate-Group", `oidc:${GROUP}`],
    ];

    await t.step("exec over a WebSocket upgrade (v5.channel.k8s.io)", async () => {
      const { stdout, status } = await retryUntilRbac(() => execOverWebSocket(client, execPath, aliceLines));
      assert.equal(stdout, "hi\n");
      assert.equal(JSON.parse(status).status, "Success");
      await waitFor(() => proxy.stats().activeUpgrades === 0, "the upgrade to be torn down");
    });

    await t.step("exec over SPDY/3.1: the apiserver's 101 comes through", async () => {
      const connection = client.connect();
      const reader = new ByteReader(connection);
      connection.write(rawRequest("POST", execPath, [
        ["Connection", "Upgrade"],
        ["Upgrade", "SPDY/3.1"],
        ["X-Stream-Protocol-Version", "v4.channel.k8s.io"],
        ["Content-Length", "0"],
        ...aliceLines,
      ]));
      const head = await reader.head();
      assert.match(head, /^HTTP\/1\.1 101 /, head);
      assert.equal(headerIn(head, "upgrade")?.toLowerCase(), "spdy/3.1");
      assert.equal(headerIn(head, "x-stream-protocol-version"), "v4.channel.k8s.io");
      connection.destroy();
      await waitFor(() => proxy.stats().activeUpgrades === 0, "the upgrade to be torn down");
    });

    await t.step("an upgrade the apiserver refuses is relayed, then the connection closes", async () => {
      const connection = client.connect();
      const reader = new ByteReader(connection);
      // A user without the exec binding: the apiserver answers 403 instead of 101.
      const { bytes } = webSocketRequest(execPath, "v5.channel.k8s.io", [["Impersonate-User", "bob"]]);
      connection.write(bytes);
      const head = await reader.head();
      assert.match(head, /^HTTP\/1\.1 403 /, head);
      const body = await reader.rest();
      assert.match(body.toString(), /User \\"bob\\" cannot (get|create) resource \\"pods\/exec\\"/);
      assert.ok(reader.ended, "no second request can follow on that connection");
    });

    await t.step("the agent refuses an upgrade without impersonation", async () => {
      const connection = client.connect();
      const reader = new ByteReader(connection);
      connection.write(webSocketRequest(execPath, "v5.channel.k8s.io", []).bytes);
      const head = await reader.head();
      assert.match(head, /^HTTP\/1\.1 403 /);
      const status = JSON.parse((await reader.rest()).toString());
      assert.equal(status.reason, "Forbidden");
      assert.match(status.message, /only serves impersonated requests/);
    });

    await t.step("one debug line per request with method, path, user, status and time", () => {
      const line = lines.find((l) => l.msg === "proxied request" && l.method === "DELETE");
      assert.ok(line, "a line for the DELETE");
      assert.equal(line.level, "debug");
      assert.equal(line.path, `/api/v1/namespaces/${NAMESPACE}/configmaps/posted`);
      assert.equal(line.user, "alice");
      assert.equal(line.status, 200);
      assert.equal(typeof line.ms, "number");
      const upgrade = lines.find((l) => l.msg === "proxied upgrade" && l.status === 101);
      assert.ok(upgrade, "a line for the exec upgrade");
      assert.ok(!JSON.stringify(lines).includes("command=echo"), "queries are not logged");
    });
  } finally {
    client.close();
    await proxy.close();
    const rbac = "/apis/rbac.authorization.k8s.io/v1";
    await admin.request("DELETE", `${rbac}/clusterrolebindings/${clusterBinding}`);
    await admin.request("DELETE", `${rbac}/namespaces/${demo.namespace}/rolebindings/proxy-test-${RUN}-exec`);
    await admin.request("DELETE", `${rbac}/namespaces/${demo.namespace}/roles/proxy-test-${RUN}-exec`);
    await admin.request("DELETE", `/api/v1/namespaces/${NAMESPACE}`);
    await admin.request("DELETE", `/api/v1/namespaces/${OTHER_NAMESPACE}`);
    admin.close();
  }
  assert.equal(proxy.stats().activeRequests, 0);
});

Deno.test("kube proxy: an in-cluster token is read again after the apiserver rejects it", async () => {
  const bed = await ensureTestbed();
  const alpha = bed.clusters.find((cluster) => cluster.name === "alpha")!;
  const dir = await mkdtemp(join(tmpdir(), "proxy-test-sa-"));
  await writeFile(join(dir, "ca.crt"), await Deno.readTextFile(alpha.caFile));
  await writeFile(join(dir, "token"), "not-a-valid-token");
  const env: Record<string, string> = {
    KUBERNETES_SERVICE_HOST: "127.0.0.1",
    KUBERNETES_SERVICE_PORT: new URL(alpha.server).port,
  };
  const target = loadKubeTarget({ env: (name) => env[name], serviceAccountDir: dir });
  const proxy = createKubeProxy({ target, log: capturingLogger().log });
  const client = new ProxyClient(proxy);
  try {
    const rejected = await client.request("GET", "/version", asAlice());
    assert.equal(rejected.status, 401, "the apiserver rejected the stale token");
    // The kubelet rotates the file in place.
    await writeFile(join(dir, "token"), await Deno.readTextFile(alpha.agentTokenFile));
    const accepted = await client.request("GET", "/version", asAlice());
    assert.equal(accepted.status, 200, accepted.text);
    assert.match(JSON.parse(accepted.text).gitVersion, /^v1\./);
  } finally {
    client.close();
    await proxy.close();
    await rm(dir, { recursive: true });
  }
});

Deno.test("kube proxy: an unreachable or untrusted apiserver is 503 ServiceUnavailable", async () => {
  const bed = await ensureTestbed();
  const alpha = bed.clusters.find((cluster) => cluster.name === "alpha")!;
  const agentTarget = loadKubeTarget({ kubeconfigPath: alpha.agentKubeconfig });
  // A certificate that did not sign the apiserver's: trusting only it makes the TLS handshake fail.
  const unrelatedCert = loadKubeTarget({ kubeconfigPath: alpha.kubeconfig }).tls.cert!;
  const targets = {
    refused: withUrl(agentTarget, `https://127.0.0.1:${await unusedPort()}`),
    untrusted: withCa(agentTarget, unrelatedCert),
  };
  for (const [name, target] of Object.entries(targets)) {
    const { log, lines } = capturingLogger();
    const proxy = createKubeProxy({ target, log });
    const client = new ProxyClient(proxy);
    try {
      const reply = await client.request("GET", "/api/v1/namespaces", asAlice());
      assert.equal(reply.status, 503, `${name}: ${reply.text}`);
      const status = JSON.parse(reply.text);
      assert.equal(status.kind, "Status");
      assert.equal(status.reason, "ServiceUnavailable");
      assert.match(status.message, /^the agent cannot reach the kube-apiserver \(\w+\)$/);
      if (name === "refused") assert.match(status.message, /ECONNREFUSED/);
      assert.ok(!status.message.includes("127.0.0.1"), "no internal address in what the caller sees");
      assert.ok(lines.some((line) => line.msg === "apiserver request failed" && line.level === "warn"));

      const connection = client.connect();
      const reader = new ByteReader(connection);
      connection.write(
        webSocketRequest("/api/v1/namespaces/demo/pods/demo-app/exec", "v5.channel.k8s.io", [
          ["Impersonate-User", "alice"],
        ]).bytes,
      );
      assert.match(await reader.head(), /^HTTP\/1\.1 503 /, `${name}: upgrade`);
      assert.equal(JSON.parse((await reader.rest()).toString()).reason, "ServiceUnavailable");
      assert.equal(proxy.stats().upstreamErrors, 2);
    } finally {
      client.close();
      await proxy.close();
    }
  }
});

Deno.test("kube proxy: requests that are not paths are refused with 400", async () => {
  const bed = await ensureTestbed();
  const target = loadKubeTarget({ kubeconfigPath: bed.clusters[0].agentKubeconfig });
  const proxy = createKubeProxy({ target, log: capturingLogger().log });
  const client = new ProxyClient(proxy);
  try {
    const connection = client.connect();
    const reader = new ByteReader(connection);
    connection.write(rawRequest("GET", "https://example.invalid/api", [["Impersonate-User", "alice"]]));
    const head = await reader.head();
    assert.match(head, /^HTTP\/1\.1 400 /);
    connection.destroy();
  } finally {
    client.close();
    await proxy.close();
  }
});

/** RBAC changes reach the apiserver's authorizer cache within moments; retry until they have. */
async function waitForStatus(
  client: ProxyClient,
  path: string,
  headers: RequestHeaders,
  expected: number,
  options: { method?: string; body?: string } = {},
) {
  const deadline = Date.now() + 10_000;
  while (true) {
    const reply = await client.request(options.method ?? "GET", path, headers, options.body);
    if (reply.status === expected || reply.status !== 403 || Date.now() > deadline) {
      assert.equal(reply.status, expected, reply.text);
      return reply;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function retryUntilRbac<T>(attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 10_000;
  while (true) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof ForbiddenUpgrade) || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

class ForbiddenUpgrade extends Error {}

/** Runs exec over a hand-made WebSocket client and returns channel 1 (stdout) and channel 3 (status). */
async function execOverWebSocket(client: ProxyClient, path: string, headers: [string, string][]) {
  const connection = client.connect();
  try {
    const reader = new ByteReader(connection);
    const { bytes, accept } = webSocketRequest(path, "v5.channel.k8s.io", headers);
    connection.write(bytes);
    const head = await reader.head();
    if (/^HTTP\/1\.1 403 /.test(head)) throw new ForbiddenUpgrade(head);
    assert.match(head, /^HTTP\/1\.1 101 /, head);
    assert.equal(
      headerIn(head, "sec-websocket-accept"),
      accept,
      "the apiserver's handshake answer, unchanged",
    );
    assert.equal(headerIn(head, "sec-websocket-protocol"), "v5.channel.k8s.io");
    const channels = new Map<number, string>();
    while (true) {
      const frame = await reader.frame();
      if (frame.opcode === 0x8) break;
      if (frame.opcode !== 0x2 || frame.payload.length === 0) continue;
      const channel = frame.payload[0];
      channels.set(channel, (channels.get(channel) ?? "") + frame.payload.subarray(1).toString("utf8"));
    }
    return { stdout: channels.get(1) ?? "", status: channels.get(3) ?? "" };
  } finally {
    connection.destroy();
  }
}

/** Starts a streaming GET; its status and headers must arrive within `timeoutMs`, before any body. */
function openStream(client: ProxyClient, path: string, headers: RequestHeaders, timeoutMs = 10_000) {
  return new Promise<{ request: http.ClientRequest; response: http.IncomingMessage }>((resolve, reject) => {
    const request = http.request(
      { agent: client.agent, host: "cluster.tunnel", path, headers },
      (response) => {
        clearTimeout(timer);
        resolve({ request, response });
      },
    );
    const timer = setTimeout(() => {
      request.destroy();
      reject(new Error(`no response head for ${path} within ${timeoutMs} ms`));
    }, timeoutMs);
    request.on("error", (error) => {
      clearTimeout(timer);
      if (!request.destroyed) reject(error);
    });
    request.end();
  });
}

async function unusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function withUrl<T extends { url: URL }>(target: T, url: string): T {
  return { ...target, url: new URL(url) };
}

function withCa<T extends { tls: { ca?: string } }>(target: T, ca: string): T {
  return { ...target, tls: { ...target.tls, ca } };
}
