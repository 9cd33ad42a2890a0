/**
 * The hub's public port, exercised with real clients against the real hub
 * process started with its production permission flags: buf curl over the
 * three protocols, grpc-health-probe, connect-node's gRPC client, and plain
 * HTTP for CORS and metrics. Tokens come from a small local issuer so that
 * every kind of bad token can be minted; tests/e2e/hub_keycloak_test.ts uses
 * real Keycloak tokens.
 */
import assert from "node:assert/strict";
import { generateTestKey, TestIssuer, unusedPort } from "../../server/auth/test_issuer.ts";
import { bufCurl, protocolFlags } from "../support/buf_curl.ts";
import { grpcHealthProbe } from "../support/go_tool.ts";
import { startHubProcess } from "../support/hub_process.ts";
import { findSample, parseMetrics } from "../support/metrics_text.ts";
import { badTokens, claimsFor, randomKidToken } from "../support/tokens.ts";

/**
 * The probe's own deadlines (1 s each by default) are for a kubelet; on a loaded test machine a hub that
 * answers a little late would read as "connection failed" (2) or "RPC failed" (3), not as its status.
 */
const probeTimeouts = ["-connect-timeout=15s", "-rpc-timeout=15s"];

const appMethods = [
  "otterscale.fleet.v1.FleetService/ListClusters",
  "otterscale.fleet.v1.FleetService/Register",
  "otterscale.fleet.v1.FleetService/GetAgentManifest",
  ...["Discovery", "Schema", "List", "Get", "Describe", "Create", "Apply", "Delete", "Watch"]
    .map((m) => `otterscale.resource.v1.ResourceService/${m}`),
  ...["PodLog", "ExecuteTTY", "WriteTTY", "ResizeTTY", "PortForward", "WritePortForward", "Scale", "Restart"]
    .map((m) => `otterscale.runtime.v1.RuntimeService/${m}`),
  "otterscale.runtime.v1.RuntimeService/GetScale",
  "grpc.health.v1.Health/Check",
  "grpc.health.v1.Health/Watch",
];

Deno.test("hub API surface with real clients", async (t) => {
  await using issuer = new TestIssuer();
  await using otherIssuer = new TestIssuer();
  const key = await generateTestKey("ES256", "key-1");
  issuer.published = [key];
  const hub = await startHubProcess({ issuerUrl: issuer.url, allowedOrigins: "http://allowed.example" });
  const token = await issuer.sign(key, claimsFor("alice", ["platform-admins"]));
  const auth = ["-H", `Authorization: Bearer ${token}`];
  try {
    for (const protocol of ["connect", "grpc", "grpcweb"] as const) {
      await t.step(`reflection lists every service and method (${protocol})`, async () => {
        const result = await bufCurl([...protocolFlags[protocol], "--list-methods", hub.url]);
        assert.deepEqual(result.code, 0, result.stderr);
        const listed = result.stdout.trim().split("\n");
        for (const method of appMethods) assert(listed.includes(method), `${method} missing from ${listed}`);
      });

      await t.step(`ListClusters answers with the caller's token (${protocol})`, async () => {
        const result = await bufCurl([
          ...protocolFlags[protocol],
          ...auth,
          "--data",
          "{}",
          `${hub.url}/otterscale.fleet.v1.FleetService/ListClusters`,
        ]);
        assert.deepEqual(result.code, 0, result.stderr);
        assert.deepEqual(JSON.parse(result.stdout), {});
      });
    }

    await t.step("the Feature option is visible through reflection", async () => {
      const result = await bufCurl([
        ...protocolFlags.grpc,
        "--data",
        '{"fileContainingSymbol":"otterscale.fleet.v1.FleetService"}',
        `${hub.url}/grpc.reflection.v1.ServerReflection/ServerReflectionInfo`,
      ]);
      assert.deepEqual(result.code, 0, result.stderr);
      const files: string[] = JSON.parse(result.stdout).fileDescriptorResponse.fileDescriptorProto;
      const decoded = files.map((f) =>
        new TextDecoder("latin1").decode(Uint8Array.from(atob(f), (c) => c.charCodeAt(0)))
      );
      assert(
        decoded.some((d) => d.includes("fleet-enabled")),
        "fleet.proto descriptor carries the feature option",
      );
    });

    await t.step("bad tokens are all refused with unauthenticated", async () => {
      const tokens = await badTokens(issuer, key, otherIssuer);
      const cases: [string, string[]][] = [
        ["no token", []],
        ["not a bearer", ["-H", "Authorization: Basic YWxpY2U6c2VjcmV0"]],
        ...Object.entries(tokens).map((
          [name, bad],
        ): [string, string[]] => [name, ["-H", `Authorization: Bearer ${bad}`]]),
      ];
      for (const [name, header] of cases) {
        for (const protocol of ["connect", "grpc"] as const) {
          const result = await bufCurl([
            ...protocolFlags[protocol],
            ...header,
            "--data",
            "{}",
            `${hub.url}/otterscale.fleet.v1.FleetService/ListClusters`,
          ]);
          assert(result.code !== 0, `${name} over ${protocol} was accepted`);
          assert.match(result.stderr, /unauthenticated/, `${name} over ${protocol}`);
          // The caller learns nothing about why.
          assert.match(result.stderr, /(missing|invalid) bearer token/, `${name} over ${protocol}`);
        }
      }
    });

    await t.step("a flood of unknown key ids does not flood the issuer", async () => {
      const before = issuer.jwksRequests;
      const calls = await Promise.all(
        Array.from({ length: 100 }, async () => {
          const response = await fetch(`${hub.url}/otterscale.fleet.v1.FleetService/ListClusters`, {
            method: "POST",
            headers: {
              "content-type": "application/json",
              "authorization": `Bearer ${await randomKidToken(issuer)}`,
            },
            body: "{}",
          });
          await response.body?.cancel();
          return response.status;
        }),
      );
      assert(calls.every((status) => status === 401), `statuses: ${calls}`);
      assert(
        issuer.jwksRequests - before <= 1,
        `JWKS fetched ${issuer.jwksRequests - before} times for 100 unknown kids`,
      );
    });

    await t.step("grpc-health-probe sees SERVING overall and for each service", async () => {
      const probe = await grpcHealthProbe();
      for (
        const service of ["", "otterscale.fleet.v1.FleetService", "otterscale.resource.v1.ResourceService"]
      ) {
        const output = await new Deno.Command(probe, {
          args: [`-addr=127.0.0.1:${hub.port}`, `-service=${service}`, ...probeTimeouts],
        })
          .output();
        const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
        assert.deepEqual(output.code, 0, `service "${service}": ${text}`);
        assert.match(text, /SERVING/);
      }
      const unknown = await new Deno.Command(probe, {
        args: [`-addr=127.0.0.1:${hub.port}`, "-service=no.Such", ...probeTimeouts],
      })
        .output();
      assert(unknown.code !== 0, "an unknown service is not reported healthy");
    });

    await t.step("metrics count RPCs by service, method, protocol and code", async () => {
      const response = await fetch(`${hub.url}/metrics`);
      assert.deepEqual(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", /text\/plain/);
      const samples = parseMetrics(await response.text());
      const ok = findSample(samples, "otterscale_rpc_requests_total", {
        service: "otterscale.fleet.v1.FleetService",
        method: "ListClusters",
        protocol: "grpc",
        code: "ok",
      });
      assert(ok && ok.value >= 1, "a successful gRPC ListClusters was counted");
      const refused = findSample(samples, "otterscale_rpc_requests_total", {
        method: "ListClusters",
        protocol: "connect",
        code: "unauthenticated",
      });
      assert(refused && refused.value >= 100, "refused calls are counted by code");
      assert(
        findSample(samples, "otterscale_rpc_duration_seconds_bucket", {
          method: "ListClusters",
          le: "0.005",
        }),
      );
      const rss = findSample(samples, "process_resident_memory_bytes");
      assert(rss && rss.value > 10_000_000, "process memory is reported (not a silent 0)");
      for (const sample of samples) {
        assert(!("peer" in sample.labels) && !("net_peer_port" in sample.labels), "no per-client labels");
      }
    });

    await t.step("CORS grants the allowed origin, Authorization included, and nobody else", async () => {
      const preflight = (origin: string) =>
        fetch(`${hub.url}/otterscale.fleet.v1.FleetService/ListClusters`, {
          method: "OPTIONS",
          headers: {
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type, connect-protocol-version",
          },
        });
      const allowed = await preflight("http://allowed.example");
      await allowed.body?.cancel();
      assert.deepEqual(allowed.status, 204);
      assert.deepEqual(allowed.headers.get("access-control-allow-origin"), "http://allowed.example");
      const allowHeaders = allowed.headers.get("access-control-allow-headers")?.toLowerCase() ?? "";
      for (const header of ["authorization", "content-type", "connect-protocol-version", "x-grpc-web"]) {
        assert.ok(allowHeaders.includes(header), `${header} allowed`);
      }
      const refused = await preflight("http://evil.example");
      await refused.body?.cancel();
      assert.deepEqual(refused.headers.get("access-control-allow-origin"), null);

      const actual = await fetch(`${hub.url}/otterscale.fleet.v1.FleetService/ListClusters`, {
        method: "POST",
        headers: { "origin": "http://allowed.example", "content-type": "application/json", ...bearer(token) },
        body: "{}",
      });
      await actual.body?.cancel();
      assert.deepEqual(actual.headers.get("access-control-allow-origin"), "http://allowed.example");
      assert.match(actual.headers.get("access-control-expose-headers")?.toLowerCase() ?? "", /grpc-status/);
    });

    await t.step("a request whose body arrives in a later packet is read whole", async () => {
      // connect-node sends headers and the chunked body in separate writes;
      // the one-port router once let the second packet overtake the first.
      for (let i = 0; i < 50; i++) {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: hub.port });
        conn.setNoDelay(true);
        const head = `POST /otterscale.fleet.v1.FleetService/ListClusters HTTP/1.1\r\nhost: hub\r\n` +
          `authorization: Bearer ${token}\r\ncontent-type: application/json\r\n` +
          `transfer-encoding: chunked\r\nconnection: close\r\n\r\n`;
        // Two writes back to back, two TCP segments (no Nagle), as the client does.
        await conn.write(new TextEncoder().encode(head));
        await conn.write(new TextEncoder().encode("2\r\n{}\r\n0\r\n\r\n"));
        const reply = new TextDecoder().decode(await new Response(conn.readable).arrayBuffer());
        assert.match(reply, /^HTTP\/1\.1 200 /, reply);
      }
    });

    await t.step("every response carries a request id, the caller's when sane", async () => {
      const given = await fetch(`${hub.url}/metrics`, { headers: { "x-request-id": "trace-42" } });
      await given.body?.cancel();
      assert.deepEqual(given.headers.get("x-request-id"), "trace-42");
      const fresh = await fetch(`${hub.url}/metrics`, { headers: { "x-request-id": "bad id\twith tab" } });
      await fresh.body?.cancel();
      assert.match(fresh.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
    });
  } finally {
    await hub.stop();
  }
});

Deno.test("the hub starts while the issuer is unreachable, and health says so until it is back", async () => {
  const port = unusedPort();
  const realmUrl = `http://127.0.0.1:${port}/realms/test`;
  const hub = await startHubProcess({ issuerUrl: realmUrl, waitForIssuer: false });
  const probe = await grpcHealthProbe();
  const check = async () =>
    (await new Deno.Command(probe, { args: [`-addr=127.0.0.1:${hub.port}`, ...probeTimeouts] }).output())
      .code;
  let issuer: TestIssuer | undefined;
  try {
    // Exit code 4 is the probe's "not serving".
    assert.deepEqual(await check(), 4);
    issuer = new TestIssuer(port);
    const key = await generateTestKey("ES256", "late");
    issuer.published = [key];
    // The hub retries discovery with backoff capped at 30 s (server/auth/oidc_verifier.ts), so the next
    // attempt after the issuer came up can be that far away; the margin is for a loaded machine.
    const deadline = Date.now() + 60_000;
    while (await check() !== 0) {
      assert(Date.now() < deadline, "health never became SERVING after the issuer came up");
      await new Promise((r) => setTimeout(r, 250));
    }
    const response = await fetch(`${hub.url}/otterscale.fleet.v1.FleetService/ListClusters`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...bearer(await issuer.sign(key, claimsFor("alice", []))),
      },
      body: "{}",
    });
    assert.deepEqual(response.status, 200, await response.text());
  } finally {
    await hub.stop();
    await issuer?.close();
  }
});

function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}
