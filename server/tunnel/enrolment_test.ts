import assert from "node:assert/strict";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { createLogger } from "../../shared/log.ts";
import {
  type AgentKey,
  type Ca,
  clientIdentityFromPeerCert,
  createAgentKey,
  createCa,
  createCsr,
  issueServerCert,
  parseCertificate,
  verifyAndIssueClientCert,
} from "../../shared/pki/mod.ts";
import { decodeSinglePemBlock, encodePem } from "../../shared/pki/pem.ts";
import { opensslOk, withTempDir } from "../../shared/pki/test_helpers.ts";
import {
  createEnrolment,
  type EnrolmentRequest,
  type EnrolmentResponse,
  type EnrolmentResult,
  tunnelEndpoint,
} from "./enrolment.ts";
import { createEnrolmentTokenKey, type EnrolmentTokenKey, mintEnrolmentToken } from "./enrolment_token.ts";

const start = new Date("2031-05-06T07:08:09Z");
const hour = 3_600_000;
const lifetimeMs = 24 * hour;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface Harness {
  ca: Ca;
  tokenKey: EnrolmentTokenKey;
  clock: { now: Date };
  logs: Record<string, unknown>[];
  results: EnrolmentResult[];
  register(req: Partial<EnrolmentRequest>): Promise<EnrolmentResponse>;
  token(cluster: string): Promise<string>;
}

async function harness(options: { tunnelUrl?: string; failureLimit?: number } = {}): Promise<Harness> {
  const ca = await createCa({ now: new Date(start.getTime() - hour) });
  const tokenKey = await createEnrolmentTokenKey(ca);
  const clock = { now: start };
  const logs: Record<string, unknown>[] = [];
  const results: EnrolmentResult[] = [];
  const enrolment = createEnrolment({
    ca,
    tokenKey,
    externalTunnelUrl: new URL(options.tunnelUrl ?? "https://tunnel.example.test"),
    certificateLifetimeMs: lifetimeMs,
    serverVersion: "9.8.7",
    log: createLogger("debug", {}, (line) => logs.push(JSON.parse(line))),
    onResult: (result) => results.push(result),
    now: () => clock.now,
    failureLimit: options.failureLimit === undefined
      ? undefined
      : { attempts: options.failureLimit, windowMs: 60_000 },
  });
  return {
    ca,
    tokenKey,
    clock,
    logs,
    results,
    register: (req) => enrolment.register(request(req)),
    token: (cluster) => mintEnrolmentToken(tokenKey, { cluster, now: clock.now }),
  };
}

function request(fields: Partial<EnrolmentRequest>): EnrolmentRequest {
  return {
    cluster: "cluster-a",
    agentId: "agent-1",
    agentVersion: "1.2.3",
    csr: new Uint8Array(),
    enrolmentToken: "",
    certificate: new Uint8Array(),
    ...fields,
  };
}

async function csrBytes(key: AgentKey, cluster = "cluster-a", agentId = "agent-1"): Promise<Uint8Array> {
  return encoder.encode(await createCsr({ cluster, agentId, keys: key.keys }));
}

async function assertConnectError(
  promise: Promise<unknown>,
  code: Code,
  message: string | RegExp,
): Promise<ConnectError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof ConnectError, `expected a ConnectError (${Code[code]}), got ${caught}`);
  assert.equal(caught.code, code, `${Code[caught.code]}: ${caught.rawMessage}`);
  if (typeof message === "string") assert.equal(caught.rawMessage, message);
  else assert.match(caught.rawMessage, message);
  return caught;
}

function lastLog(h: Harness): Record<string, unknown> {
  const entry = h.logs.at(-1);
  assert.ok(entry, "nothing was logged");
  return entry;
}

/** Enrols agent-1 of cluster-a with a token; returns its key and certificate PEM. */
async function enrol(h: Harness): Promise<{ key: AgentKey; certPem: string }> {
  const key = await createAgentKey();
  const response = await h.register({ csr: await csrBytes(key), enrolmentToken: await h.token("cluster-a") });
  return { key, certPem: decoder.decode(response.certificate) };
}

Deno.test("a valid token enrols the agent with a certificate for its cluster and id", async () => {
  const h = await harness();
  const key = await createAgentKey();
  const token = await h.token("cluster-a");
  const response = await h.register({ csr: await csrBytes(key), enrolmentToken: token });

  assert.equal(response.endpoint, "tunnel.example.test:443");
  assert.equal(decoder.decode(response.caCertificate), h.ca.certPem);
  assert.equal(response.serverVersion, "9.8.7");
  const certPem = decoder.decode(response.certificate);
  const cert = parseCertificate(certPem);
  assert.deepEqual(clientIdentityFromPeerCert(new Uint8Array(cert.rawData)), {
    cluster: "cluster-a",
    agentId: "agent-1",
  });
  assert.equal(cert.notAfter.getTime(), start.getTime() + lifetimeMs);
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(join(dir, "ca.pem"), h.ca.certPem);
    await Deno.writeTextFile(join(dir, "agent.pem"), certPem);
    const out = await opensslOk([
      "verify",
      "-purpose",
      "sslclient",
      "-x509_strict",
      "-attime",
      String(start.getTime() / 1000),
      "-CAfile",
      join(dir, "ca.pem"),
      join(dir, "agent.pem"),
    ]);
    assert.match(out, /agent\.pem: OK/);
  });

  assert.deepEqual(h.results, ["issued"]);
  const entry = lastLog(h);
  assert.equal(entry.level, "info");
  assert.equal(entry.msg, "agent enrolled");
  assert.equal(entry.cluster, "cluster-a");
  assert.equal(entry.agentId, "agent-1");
  assert.equal(entry.agentVersion, "1.2.3");
  assert.equal(entry.serial, cert.serialNumber);
  assert.equal(entry.notAfter, cert.notAfter.toISOString());
  assert.ok(!JSON.stringify(h.logs).includes(token), "the token must never be logged");
});

Deno.test("the tunnel endpoint is host:port of the external tunnel URL", async () => {
  assert.equal(tunnelEndpoint(new URL("https://tunnel.example.test")), "tunnel.example.test:443");
  assert.equal(tunnelEndpoint(new URL("https://tunnel.example.test:8443/x")), "tunnel.example.test:8443");
  assert.equal(tunnelEndpoint(new URL("tls://[2001:db8::1]:9443")), "[2001:db8::1]:9443");
  assert.equal(tunnelEndpoint(new URL("https://[::1]")), "[::1]:443");
  assert.throws(() => tunnelEndpoint(new URL("http://tunnel.example.test")), /implies none/);
  const h = await harness({ tunnelUrl: "https://tunnel.example.test:7443" });
  const key = await createAgentKey();
  const response = await h.register({ csr: await csrBytes(key), enrolmentToken: await h.token("cluster-a") });
  assert.equal(response.endpoint, "tunnel.example.test:7443");
});

Deno.test("a token for another cluster is permission_denied", async () => {
  const h = await harness();
  const key = await createAgentKey();
  await assertConnectError(
    h.register({ csr: await csrBytes(key), enrolmentToken: await h.token("cluster-b") }),
    Code.PermissionDenied,
    "enrolment token is for another cluster",
  );
  assert.deepEqual(h.results, ["refused"]);
  const entry = lastLog(h);
  assert.equal(entry.level, "warn");
  assert.equal(entry.cluster, "cluster-a");
  assert.match(String(entry.reason), /cluster cluster-b/);
});

Deno.test("a request without token or certificate is unauthenticated", async () => {
  const h = await harness();
  const key = await createAgentKey();
  await assertConnectError(
    h.register({ csr: await csrBytes(key) }),
    Code.Unauthenticated,
    "enrolment needs an enrolment token or a current certificate",
  );
  assert.deepEqual(h.results, ["refused"]);
});

Deno.test("an invalid, foreign or expired token is unauthenticated without saying why", async () => {
  const h = await harness();
  const csr = await csrBytes(await createAgentKey());
  const foreignKey = await createEnrolmentTokenKey(await createCa());
  const foreign = await mintEnrolmentToken(foreignKey, { cluster: "cluster-a", now: start });
  const expiring = await mintEnrolmentToken(h.tokenKey, { cluster: "cluster-a", ttlMs: hour, now: start });
  const cases: [string, () => void, RegExp][] = [
    ["not-a-token", () => {}, /^malformed: /],
    [foreign, () => {}, /^bad_signature: /],
    [expiring, () => h.clock.now = new Date(start.getTime() + 2 * hour), /^expired: /],
  ];
  for (const [token, arrange, reason] of cases) {
    arrange();
    const error = await assertConnectError(
      h.register({ csr, enrolmentToken: token }),
      Code.Unauthenticated,
      "invalid or expired enrolment token",
    );
    assert.doesNotMatch(error.message, /malformed|signature|expired at/);
    assert.match(String(lastLog(h).reason), reason);
  }
  assert.deepEqual(h.results, ["refused", "refused", "refused"]);
});

Deno.test("renewal with the current certificate and the same key issues a later certificate", async () => {
  const h = await harness();
  const { key, certPem } = await enrol(h);
  const first = parseCertificate(certPem);

  h.clock.now = new Date(start.getTime() + 20 * hour);
  const response = await h.register({ csr: await csrBytes(key), certificate: encoder.encode(certPem) });
  const renewed = parseCertificate(decoder.decode(response.certificate));

  assert.notEqual(renewed.serialNumber, first.serialNumber);
  assert.ok(renewed.notAfter > first.notAfter);
  assert.equal(renewed.notAfter.getTime(), start.getTime() + 44 * hour);
  assert.ok(renewed.publicKey.equal(first.publicKey));
  assert.deepEqual(clientIdentityFromPeerCert(new Uint8Array(renewed.rawData)), {
    cluster: "cluster-a",
    agentId: "agent-1",
  });
  assert.deepEqual(h.results, ["issued", "renewed"]);
  assert.equal(lastLog(h).msg, "agent certificate renewed");
  assert.equal(lastLog(h).serial, renewed.serialNumber);
});

/** Expects a renewal refusal whose log reason matches `reason`; the client sees the same text every time. */
async function assertRenewalRefused(
  h: Harness,
  req: Partial<EnrolmentRequest>,
  reason: RegExp,
): Promise<void> {
  await assertConnectError(
    h.register(req),
    Code.Unauthenticated,
    "renewal certificate is not valid for this cluster",
  );
  const entry = lastLog(h);
  assert.equal(entry.level, "warn");
  assert.equal(entry.msg, "agent enrolment refused");
  assert.equal(entry.cluster, req.cluster ?? "cluster-a");
  assert.equal(entry.agentId, req.agentId ?? "agent-1");
  assert.match(String(entry.reason), reason);
  assert.equal(h.results.at(-1), "refused");
}

Deno.test("renewal with a certificate of another cluster or agent is unauthenticated", async () => {
  const h = await harness();
  const key = await createAgentKey();
  const other = await verifyAndIssueClientCert({
    csrPem: await createCsr({ cluster: "cluster-b", agentId: "agent-1", keys: key.keys }),
    cluster: "cluster-b",
    agentId: "agent-1",
    ca: h.ca,
    now: start,
  });
  await assertRenewalRefused(
    h,
    { csr: await csrBytes(key), certificate: encoder.encode(other.certPem) },
    /belongs to cluster cluster-b agent agent-1/,
  );
  // The same certificate does renew its own cluster, so the refusal above is about the cluster.
  await h.register({
    cluster: "cluster-b",
    csr: await csrBytes(key, "cluster-b"),
    certificate: encoder.encode(other.certPem),
  });

  const { key: key2, certPem } = await enrol(h);
  await assertRenewalRefused(
    h,
    {
      agentId: "agent-2",
      csr: await csrBytes(key2, "cluster-a", "agent-2"),
      certificate: encoder.encode(certPem),
    },
    /belongs to cluster cluster-a agent agent-1/,
  );
});

Deno.test("renewal with a certificate from another CA is unauthenticated", async () => {
  const h = await harness();
  const key = await createAgentKey();
  const foreign = await verifyAndIssueClientCert({
    csrPem: await createCsr({ cluster: "cluster-a", agentId: "agent-1", keys: key.keys }),
    cluster: "cluster-a",
    agentId: "agent-1",
    ca: await createCa({ now: new Date(start.getTime() - hour) }),
    now: start,
  });
  await assertRenewalRefused(
    h,
    { csr: await csrBytes(key), certificate: encoder.encode(foreign.certPem) },
    /not signed by this hub's CA/,
  );
});

Deno.test("renewal with a CSR for a different key is unauthenticated", async () => {
  const h = await harness();
  const { certPem } = await enrol(h);
  await assertRenewalRefused(
    h,
    { csr: await csrBytes(await createAgentKey()), certificate: encoder.encode(certPem) },
    /csr key differs/,
  );
});

Deno.test("renewal with the certificate's key but a forged CSR signature is unauthenticated", async () => {
  const h = await harness();
  const { key, certPem } = await enrol(h);
  const block = decodeSinglePemBlock(decoder.decode(await csrBytes(key)), "csr");
  const der = block.der.slice();
  der[der.length - 1] ^= 1; // the last byte of the ECDSA signature
  await assertRenewalRefused(
    h,
    { csr: encoder.encode(encodePem("CERTIFICATE REQUEST", der)), certificate: encoder.encode(certPem) },
    /self-signature does not verify/,
  );
});

Deno.test("renewal with an expired or not yet valid certificate is unauthenticated", async () => {
  const h = await harness();
  const { key, certPem } = await enrol(h);
  const csr = await csrBytes(key);
  h.clock.now = new Date(start.getTime() + lifetimeMs + 1000);
  await assertRenewalRefused(h, { csr, certificate: encoder.encode(certPem) }, /outside its validity/);
  h.clock.now = new Date(start.getTime() - hour);
  await assertRenewalRefused(h, { csr, certificate: encoder.encode(certPem) }, /outside its validity/);
  h.clock.now = new Date(start.getTime() + lifetimeMs);
  await h.register({ csr, certificate: encoder.encode(certPem) });
  assert.equal(h.results.at(-1), "renewed");
});

Deno.test("renewal with a non-agent certificate or junk is unauthenticated", async () => {
  const h = await harness();
  const key = await createAgentKey();
  const csr = await csrBytes(key);
  const server = await issueServerCert({ ca: h.ca, hosts: ["tunnel.example.test"], now: start });
  await assertRenewalRefused(h, { csr, certificate: encoder.encode(server.certPem) }, /clientAuth/);
  await assertRenewalRefused(h, { csr, certificate: encoder.encode("junk") }, /no PEM block/);
  await assertRenewalRefused(h, { csr, certificate: new Uint8Array([0xff, 0xfe]) }, /not PEM text/);
});

Deno.test("a CSR the PKI refuses is invalid_argument", async () => {
  const h = await harness();
  const token = await h.token("cluster-a");
  await assertConnectError(
    h.register({ csr: encoder.encode("not a csr"), enrolmentToken: token }),
    Code.InvalidArgument,
    /^invalid csr: /,
  );
  const key = await createAgentKey();
  await assertConnectError(
    h.register({ csr: await csrBytes(key, "cluster-a", "someone-else"), enrolmentToken: token }),
    Code.InvalidArgument,
    /^invalid csr: subject CN \["someone-else"\] does not match agent id "agent-1"/,
  );
  assert.deepEqual(h.results, ["invalid", "invalid"]);
  assert.equal(lastLog(h).msg, "agent enrolment request invalid");
});

Deno.test("every malformed request field is invalid_argument", async () => {
  const h = await harness();
  const key = await createAgentKey();
  const csr = await csrBytes(key);
  const token = await h.token("cluster-a");
  const cases: [Partial<EnrolmentRequest>, string | RegExp][] = [
    [{ cluster: "" }, "invalid cluster: must not be empty"],
    [{ cluster: "a".repeat(64) }, "invalid cluster: must be at most 63 characters"],
    [{ cluster: "Cluster-A" }, /^invalid cluster "Cluster-A": must match /],
    [{ cluster: "-a" }, /^invalid cluster "-a": must match /],
    [{ cluster: "a_b" }, /^invalid cluster "a_b": must match /],
    [{ agentId: "" }, "invalid agent_id: must not be empty"],
    [{ agentId: "a".repeat(64) }, /^invalid agent_id "a{64}": must be at most 63 characters/],
    [{ agentId: "agent/1" }, /^invalid agent_id "agent\/1"/],
    [{ agentId: ".agent" }, /^invalid agent_id "\.agent"/],
    [{ agentVersion: "v".repeat(65) }, /^invalid agent_version: must be at most 64 printable/],
    [{ agentVersion: "1.0\n" }, /^invalid agent_version/],
    [{ agentVersion: "1.0é" }, /^invalid agent_version/],
    [{ csr: new Uint8Array() }, "invalid csr: must not be empty"],
    [{ csr: new Uint8Array(16 * 1024 + 1) }, "invalid csr: larger than 16384 bytes"],
    [{ csr: new Uint8Array([0xff]) }, "invalid csr: not PEM text"],
    [{ certificate: new Uint8Array(16 * 1024 + 1) }, "invalid certificate: larger than 16384 bytes"],
    [{ certificate: encoder.encode("x") }, "send either enrolment_token or certificate, not both"],
  ];
  for (const [fields, message] of cases) {
    await assertConnectError(
      h.register({ csr, enrolmentToken: token, ...fields }),
      Code.InvalidArgument,
      message,
    );
  }
  assert.deepEqual(h.results, cases.map(() => "invalid"));
  // The same request without the bad field is accepted, so each refusal above is about its field.
  await h.register({ csr, enrolmentToken: token, agentVersion: "v".repeat(64) });
  assert.equal(h.results.at(-1), "issued");
});

Deno.test("too many failures for one cluster name are resource_exhausted until the window passes", async () => {
  const h = await harness({ failureLimit: 5 });
  const key = await createAgentKey();
  const csr = await csrBytes(key);
  for (let i = 0; i < 3; i++) {
    await assertConnectError(h.register({ csr }), Code.Unauthenticated, /enrolment token/);
  }
  h.clock.now = new Date(start.getTime() + 30_000);
  await assertConnectError(h.register({ csr, agentId: "" }), Code.InvalidArgument, /agent_id/);
  await assertConnectError(
    h.register({ csr, enrolmentToken: "bogus" }),
    Code.Unauthenticated,
    "invalid or expired enrolment token",
  );
  // Invalid cluster names are not tracked, so they cannot fill the tracker or lock anyone out.
  for (let i = 0; i < 10; i++) {
    await assertConnectError(h.register({ cluster: "Bad" }), Code.InvalidArgument, /invalid cluster/);
  }

  const token = await h.token("cluster-a");
  await assertConnectError(
    h.register({ csr, enrolmentToken: token }),
    Code.ResourceExhausted,
    "too many failed enrolment attempts for this cluster, retry later",
  );
  assert.equal(lastLog(h).msg, "agent enrolment rate limited");
  assert.equal(h.results.at(-1), "refused");
  // Another cluster is not affected.
  await h.register({
    cluster: "cluster-b",
    csr: await csrBytes(key, "cluster-b"),
    enrolmentToken: await h.token("cluster-b"),
  });

  // The first three failures leave the window; two remain, below the limit of five.
  h.clock.now = new Date(start.getTime() + 60_001);
  await h.register({ csr, enrolmentToken: token });
  assert.equal(h.results.at(-1), "issued");
});
