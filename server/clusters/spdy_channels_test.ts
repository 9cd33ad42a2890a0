import assert from "node:assert/strict";
import { refusedWebSocketOnly } from "./kube_upgrade.ts";
import { EXEC_SPDY_PROTOCOLS, PORT_FORWARD_SPDY_PROTOCOL, spdyPlanFor } from "./spdy_channels.ts";
import { UpgradeRefusedError } from "./upgrade_answer.ts";

const streamTypes = (path: string, protocol: string) =>
  spdyPlanFor(path)!.streams(protocol).map((s) => [s.channel, s.headers[0][1], s.receives, s.sends]);

Deno.test("exec over SPDY opens one stream per channel the query asks for", () => {
  const base = "/api/v1/namespaces/demo/pods/app/exec?command=sh";
  assert.deepEqual(spdyPlanFor(base)!.protocols, EXEC_SPDY_PROTOCOLS);
  assert.deepEqual(streamTypes(`${base}&stdin=true&stdout=true&stderr=true&tty=false`, "v4.channel.k8s.io"), [
    [3, "error", true, false],
    [0, "stdin", false, true],
    [1, "stdout", true, false],
    [2, "stderr", true, false],
  ]);
  // A terminal merges stderr into stdout and adds the resize stream (from v3 on).
  assert.deepEqual(streamTypes(`${base}&stdin=true&stdout=true&stderr=true&tty=true`, "v4.channel.k8s.io"), [
    [3, "error", true, false],
    [0, "stdin", false, true],
    [1, "stdout", true, false],
    [4, "resize", false, true],
  ]);
  assert.deepEqual(streamTypes(`${base}&stdout=1&tty=true`, "v2.channel.k8s.io"), [
    [3, "error", true, false],
    [1, "stdout", true, false],
  ]);
  assert.equal(spdyPlanFor("/api/v1/namespaces/demo/pods/app/log"), undefined);
});

Deno.test("port-forward over SPDY: an error and a data stream sharing the port and request id", () => {
  const plan = spdyPlanFor("/api/v1/namespaces/demo/pods/app/portforward?ports=8080")!;
  assert.deepEqual(plan.protocols, [PORT_FORWARD_SPDY_PROTOCOL]);
  const streams = plan.streams(PORT_FORWARD_SPDY_PROTOCOL);
  assert.deepEqual(streams.map((s) => s.headers), [
    [["streamtype", "error"], ["port", "8080"], ["requestid", "0"]],
    [["streamtype", "data"], ["port", "8080"], ["requestid", "0"]],
  ]);
  assert.deepEqual(streams.map((s) => [s.channel, s.closeWhenAccepted ?? false]), [[1, true], [0, false]]);
  // The WebSocket framing's port prefix (little-endian 8080 = 0x1f90) on both channels.
  assert.deepEqual(plan.preamble, [Uint8Array.of(0, 0x90, 0x1f), Uint8Array.of(1, 0x90, 0x1f)]);
  assert.throws(
    () => spdyPlanFor("/api/v1/namespaces/demo/pods/app/portforward?ports=80,81"),
    /exactly one port/,
  );
});

Deno.test("SPDY is tried after WebSocket refusals SPDY may not share, not after the apiserver's verdicts", () => {
  const status = (code: number, reason: string) =>
    new TextEncoder().encode(
      JSON.stringify({ kind: "Status", status: "Failure", code, reason, message: reason }),
    );
  const refused = (code: number, body: Uint8Array) => new UpgradeRefusedError("SPDY", code, "", {}, body);
  assert.equal(refusedWebSocketOnly(refused(400, new TextEncoder().encode("WebSocket not allowed"))), true);
  assert.equal(refusedWebSocketOnly(refused(400, status(400, "BadRequest"))), true);
  assert.equal(refusedWebSocketOnly(refused(403, new TextEncoder().encode("blocked by proxy"))), true);
  assert.equal(refusedWebSocketOnly(refused(502, new Uint8Array(0))), true);
  assert.equal(refusedWebSocketOnly(refused(403, status(403, "Forbidden"))), false);
  assert.equal(refusedWebSocketOnly(refused(404, status(404, "NotFound"))), false);
  assert.equal(refusedWebSocketOnly(refused(401, status(401, "Unauthorized"))), false);
  assert.equal(refusedWebSocketOnly(new Error("connection reset")), false);
});
