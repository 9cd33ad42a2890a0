import assert from "node:assert/strict";
import * as net from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { openClusterWebSocket, upgradeError } from "./kube_upgrade.ts";
import { UpgradeRefusedError } from "./upgrade_answer.ts";
import { WebSocketError } from "./websocket.ts";
import { type RawPeer, startRawServer } from "./test_websocket_server.ts";

const encoder = new TextEncoder();
const request = { action: 'exec in pod demo/app on cluster "alpha"' };

Deno.test("a refused upgrade maps through the error table by the apiserver's Status", () => {
  const forbidden = {
    kind: "Status",
    status: "Failure",
    reason: "Forbidden",
    code: 403,
    message: 'pods "app" is forbidden: User "bob" cannot create resource "pods/exec"',
  };
  const error = upgradeError(
    new UpgradeRefusedError("WebSocket", 403, "Forbidden", {}, encoder.encode(JSON.stringify(forbidden))),
    request,
  );
  assert.equal(error.code, Code.PermissionDenied);
  assert.equal(error.rawMessage, forbidden.message);
  const notFound = {
    kind: "Status",
    status: "Failure",
    reason: "NotFound",
    code: 404,
    message: 'pods "x" not found',
  };
  assert.equal(
    upgradeError(
      new UpgradeRefusedError("WebSocket", 404, "", {}, encoder.encode(JSON.stringify(notFound))),
      request,
    )
      .code,
    Code.NotFound,
  );
  // Plain text answers (a proxy, the mux) map by HTTP status; the agent's 503 means the cluster is down.
  assert.equal(
    upgradeError(
      new UpgradeRefusedError("WebSocket", 404, "", {}, encoder.encode("404 page not found")),
      request,
    ).code,
    Code.NotFound,
  );
  assert.equal(
    upgradeError(new UpgradeRefusedError("WebSocket", 503, "", {}, new Uint8Array(0)), request).code,
    Code.Unavailable,
  );
});

Deno.test("transport and protocol failures while opening are unavailable; the caller's timeout is deadline_exceeded", () => {
  assert.equal(upgradeError(new WebSocketError("bad accept"), request).code, Code.Unavailable);
  assert.equal(upgradeError(new Error("stream reset"), request).code, Code.Unavailable);
  const timeout = new DOMException("no answer", "TimeoutError");
  assert.equal(upgradeError(timeout, request).code, Code.DeadlineExceeded);
});

Deno.test("the upgrade goes out on a new stream of the cluster, impersonating the caller", async () => {
  let seen: RawPeer["request"] | undefined;
  const server = await startRawServer((peer) => {
    seen = peer.request;
    peer.accept("v4.channel.k8s.io");
    peer.send(0x8, Uint8Array.of(0x03, 0xe8));
  });
  try {
    const opened: string[] = [];
    const clusters = {
      openStream(cluster: string) {
        opened.push(cluster);
        // Still connecting when handed over, as a fresh tunnel stream is: writes wait for it.
        return net.connect(server.port, "127.0.0.1");
      },
    };
    const ws = await openClusterWebSocket(clusters as never, {
      cluster: "alpha",
      identity: { user: "alice", groups: ["system:authenticated", "oidc:admins"] },
      path: "/api/v1/namespaces/demo/pods/app/exec?command=sh",
      protocols: ["v5.channel.k8s.io", "v4.channel.k8s.io"],
      action: "exec",
    });
    assert.equal(ws.protocol, "v4.channel.k8s.io");
    assert.equal(await ws.read(), null);
    await ws.closed;
    assert.deepEqual(opened, ["alpha"]);
    assert.equal(seen?.path, "/api/v1/namespaces/demo/pods/app/exec?command=sh");
    assert.deepEqual(seen?.headers["impersonate-user"], ["alice"]);
    assert.deepEqual(seen?.headers["impersonate-group"], ["system:authenticated", "oidc:admins"]);
  } finally {
    await server.close();
  }
});

Deno.test("a cluster without a tunnel fails before any stream is opened", async () => {
  const clusters = {
    openStream(cluster: string): never {
      throw new ConnectError(`cluster "${cluster}" is not connected`, Code.Unavailable);
    },
  };
  await assert.rejects(
    openClusterWebSocket(clusters as never, {
      cluster: "gamma",
      identity: { user: "alice", groups: [] },
      path: "/",
      protocols: [],
      action: "exec",
    }),
    (error: ConnectError) => error.code === Code.Unavailable && /gamma/.test(error.rawMessage),
  );
});
