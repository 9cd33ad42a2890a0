/**
 * GetAgentManifest and the download route on a real hub in this process, with tokens from a local
 * OIDC issuer.
 */
import assert from "node:assert/strict";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { parseAllDocuments } from "yaml";
import { FleetService } from "../../shared/gen/otterscale/fleet/v1/fleet_pb.ts";
import { silentLogger } from "../../shared/log.ts";
import { type Ca, createCa } from "../../shared/pki/mod.ts";
import { VERSION } from "../../shared/version.ts";
import { startOidcVerifier } from "../auth/oidc_verifier.ts";
import { generateTestKey, TestIssuer, waitUntilReady } from "../auth/test_issuer.ts";
import { HealthState } from "../http/health.ts";
import { type Hub, startHub } from "../hub.ts";
import { createEnrolmentTokenKey, verifyEnrolmentToken } from "../tunnel/enrolment_token.ts";
import { createManifestTokenKey, mintManifestToken } from "./manifest_token.ts";

type Json = Record<string, unknown>;

async function withHub(
  externalUrl: URL | undefined,
  fn: (ctx: { hub: Hub; base: string; ca: Ca; token: string }) => Promise<void>,
): Promise<void> {
  await using issuer = new TestIssuer();
  const key = await generateTestKey("ES256", "k1");
  issuer.published = [key];
  const verifier = startOidcVerifier({ issuerUrl: issuer.url, clientId: "otterscale-server" });
  await waitUntilReady(verifier, 10_000);
  const ca = await createCa();
  const hub = await startHub({
    address: { hostname: "127.0.0.1", port: 0 },
    allowedOrigins: [],
    verifier,
    health: new HealthState(),
    log: silentLogger,
    externalUrl,
    tunnel: {
      address: { hostname: "127.0.0.1", port: 0 },
      ca,
      externalUrl: new URL("https://tunnel.example.com:8300"),
      certificateLifetimeMs: 3600_000,
    },
  });
  const now = Math.floor(Date.now() / 1000);
  const token = await issuer.sign(key, {
    sub: "alice-sub",
    aud: "otterscale-server",
    groups: ["platform-admins"],
    iat: now,
    exp: now + 300,
  });
  try {
    await fn({ hub, base: `http://127.0.0.1:${hub.address.port}`, ca, token });
  } finally {
    await hub.shutdown(1_000);
    await verifier.close();
  }
}

function fleetClient(base: string) {
  return createClient(FleetService, createConnectTransport({ baseUrl: base, httpVersion: "1.1" }));
}

function auth(token: string) {
  return { headers: { authorization: `Bearer ${token}` } };
}

async function codeOf(promise: Promise<unknown>): Promise<Code | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return ConnectError.from(error).code;
  }
}

function documents(text: string): Json[] {
  return parseAllDocuments(text).map((d) => d.toJS() as Json);
}

function enrolmentTokenOf(manifest: string): string {
  const secret = documents(manifest).find((o) => o.kind === "Secret")!;
  return (secret.stringData as { token: string }).token;
}

Deno.test("GetAgentManifest renders the manifest and a download URL under the external URL", async () => {
  await withHub(new URL("https://hub.example.com/"), async ({ base, ca, token }) => {
    const response = await fleetClient(base).getAgentManifest({ cluster: "edge-1" }, auth(token));
    assert.match(response.url, /^https:\/\/hub\.example\.com\/fleet\/manifest\/osm1\.[\w-]+\.[\w-]+$/);
    const objects = documents(response.manifest);
    assert.equal(objects.length, 10);
    const deployment = JSON.stringify(objects.find((o) => o.kind === "Deployment"));
    assert.ok(deployment.includes(`"image":"ghcr.io/otterscale/otterscale-agent:${VERSION}"`), deployment);
    assert.ok(deployment.includes('"value":"https://hub.example.com"'), deployment);
    assert.ok(deployment.includes('"value":"https://tunnel.example.com:8300"'), deployment);
    const claims = await verifyEnrolmentToken(
      await createEnrolmentTokenKey(ca),
      enrolmentTokenOf(response.manifest),
    );
    assert.equal(claims.cluster, "edge-1");
  });
});

Deno.test("GetAgentManifest needs a user and a valid cluster name", async () => {
  await withHub(new URL("https://hub.example.com"), async ({ base, token }) => {
    const client = fleetClient(base);
    assert.equal(await codeOf(client.getAgentManifest({ cluster: "edge-1" })), Code.Unauthenticated);
    for (const cluster of ["", "Edge", 'x"\nkind: Secret', "a".repeat(64)]) {
      assert.equal(
        await codeOf(client.getAgentManifest({ cluster }, auth(token))),
        Code.InvalidArgument,
        cluster,
      );
    }
  });
});

Deno.test("the download URL serves the manifest as YAML, rendered afresh at every download", async () => {
  await withHub(new URL("https://hub.example.com"), async ({ base, ca, token }) => {
    const { url } = await fleetClient(base).getAgentManifest({ cluster: "edge-1" }, auth(token));
    const path = new URL(url).pathname;
    const first = await fetch(`${base}${path}`);
    assert.equal(first.status, 200);
    assert.equal(first.headers.get("content-type"), "text/yaml; charset=utf-8");
    assert.equal(first.headers.get("cache-control"), "no-store");
    const manifest = await first.text();
    assert.equal(documents(manifest).length, 10);
    const second = await (await fetch(`${base}${path}`)).text();
    const key = await createEnrolmentTokenKey(ca);
    const tokens = [enrolmentTokenOf(manifest), enrolmentTokenOf(second)];
    assert.notEqual(tokens[0], tokens[1]);
    for (const enrolment of tokens) {
      assert.equal((await verifyEnrolmentToken(key, enrolment)).cluster, "edge-1");
    }

    const head = await fetch(`${base}${path}`, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
    const post = await fetch(`${base}${path}`, { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    await post.body?.cancel();
  });
});

Deno.test("invalid, expired and foreign download tokens get the same 401", async () => {
  await withHub(new URL("https://hub.example.com"), async ({ base, ca }) => {
    const key = await createManifestTokenKey(ca);
    const expired = await mintManifestToken(key, {
      cluster: "edge-1",
      sub: "alice",
      ttlMs: 60_000,
      now: new Date(Date.now() - 3600_000),
    });
    const foreign = await mintManifestToken(await createManifestTokenKey(await createCa()), {
      cluster: "edge-1",
      sub: "alice",
    });
    for (const token of ["", "garbage", expired, foreign, "osm1.%E0%A4%A.x"]) {
      const response = await fetch(`${base}/fleet/manifest/${token}`);
      assert.equal(response.status, 401, token);
      assert.equal(response.headers.get("content-type"), "text/plain; charset=utf-8");
      assert.equal(await response.text(), "invalid or expired token\n");
    }
  });
});

Deno.test("without an external URL the hub offers no manifests", async () => {
  await withHub(undefined, async ({ base, token }) => {
    const code = await codeOf(fleetClient(base).getAgentManifest({ cluster: "edge-1" }, auth(token)));
    assert.equal(code, Code.FailedPrecondition);
    const response = await fetch(`${base}/fleet/manifest/osm1.a.b`);
    assert.notEqual(response.status, 200);
    await response.body?.cancel();
  });
});
