// Real mutual TLS through node:tls (rustls/webpki under Deno) with certificates from this module.
import assert from "node:assert/strict";
import tls from "node:tls";
import { type Ca, createCa } from "./ca.ts";
import { createAgentKey, createCsr } from "./csr.ts";
import { clientIdentityFromPeerCert } from "./identity.ts";
import { verifyAndIssueClientCert } from "./issue_client.ts";
import { issueServerCert } from "./issue_server.ts";
import { exportPkcs8Pem, generateEcKeyPair } from "./keys.ts";
import * as x509 from "./x509.ts";

const tunnelName = "tunnel.hub.test";
const identity = { cluster: "cluster-a", agentId: "agent-1" };

/** What the hub side saw of one connection attempt. */
type ServerEvent =
  | { kind: "secure"; authorized: boolean; identity?: unknown; refusal?: string }
  | { kind: "tlsClientError"; message: string };

interface Hub {
  port: number;
  nextEvent(): Promise<ServerEvent>;
}

/** Starts a hub-like mTLS listener on 127.0.0.1:0, runs `body`, then closes it. */
async function withHub(ca: Ca, body: (hub: Hub) => Promise<void>): Promise<void> {
  const serverCert = await issueServerCert({ ca, hosts: [tunnelName, "127.0.0.1", "0.0.0.0"] });
  const events: ServerEvent[] = [];
  const waiters: ((event: ServerEvent) => void)[] = [];
  const emit = (event: ServerEvent) => {
    const waiter = waiters.shift();
    if (waiter) waiter(event);
    else events.push(event);
  };
  const server = tls.createServer({
    key: serverCert.keyPem,
    cert: serverCert.certPem,
    ca: ca.certPem,
    requestCert: true,
    rejectUnauthorized: true,
    minVersion: "TLSv1.3",
  });
  server.on("secureConnection", (socket) => {
    socket.setNoDelay(true);
    let event: ServerEvent;
    try {
      const peerIdentity = clientIdentityFromPeerCert(socket.getPeerCertificate());
      event = { kind: "secure", authorized: socket.authorized, identity: peerIdentity };
    } catch (error) {
      event = { kind: "secure", authorized: socket.authorized, refusal: (error as Error).message };
    }
    socket.end(JSON.stringify(event));
    emit(event);
  });
  server.on("tlsClientError", (error) => emit({ kind: "tlsClientError", message: error.message }));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;

  const nextEvent = () => {
    const queued = events.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise<ServerEvent>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no server event within 20 s")), 20_000);
      waiters.push((event) => {
        clearTimeout(timer);
        resolve(event);
      });
    });
  };
  try {
    await body({ port, nextEvent });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

interface ClientResult {
  received: string;
  error?: string;
}

/** Connects like the agent does and collects what arrives until the connection closes. */
function connectAgent(port: number, options: tls.ConnectionOptions): Promise<ClientResult> {
  return new Promise((resolve) => {
    const result: ClientResult = { received: "" };
    const socket = tls.connect({ host: "127.0.0.1", port, minVersion: "TLSv1.3", ...options });
    socket.setNoDelay(true);
    socket.on("data", (chunk) => result.received += String(chunk));
    socket.on("end", () => socket.end());
    socket.on("error", (error) => result.error = error.message);
    socket.on("close", () => resolve(result));
  });
}

async function agentCredentials(ca: Ca): Promise<{ cert: string; key: string }> {
  const agent = await createAgentKey();
  const csrPem = await createCsr({ ...identity, keys: agent.keys });
  const { certPem } = await verifyAndIssueClientCert({ csrPem, ...identity, ca });
  return { cert: certPem, key: agent.keyPem };
}

Deno.test("an enrolled agent completes mTLS and the hub reads its identity", async () => {
  const ca = await createCa();
  const credentials = await agentCredentials(ca);
  await withHub(ca, async (hub) => {
    const client = await connectAgent(hub.port, { ca: ca.certPem, ...credentials, servername: tunnelName });
    const event = await hub.nextEvent();
    assert.deepEqual(event, { kind: "secure", authorized: true, identity });
    assert.equal(client.error, undefined);
    assert.deepEqual(JSON.parse(client.received), event);

    // Without a servername node:tls checks the IP literal against the certificate's IP SAN.
    const byIp = await connectAgent(hub.port, { ca: ca.certPem, ...credentials });
    assert.equal(byIp.error, undefined);
    assert.deepEqual(await hub.nextEvent(), { kind: "secure", authorized: true, identity });
  });
});

Deno.test("a client certificate from another CA is refused during the handshake", async () => {
  const ca = await createCa();
  const foreign = await agentCredentials(await createCa());
  await withHub(ca, async (hub) => {
    const client = await connectAgent(hub.port, { ca: ca.certPem, ...foreign, servername: tunnelName });
    const event = await hub.nextEvent();
    assert.equal(event.kind, "tlsClientError");
    assert.equal(client.received, "");
  });
});

Deno.test("a client without a certificate is refused during the handshake", async () => {
  const ca = await createCa();
  await withHub(ca, async (hub) => {
    const client = await connectAgent(hub.port, { ca: ca.certPem, servername: tunnelName });
    const event = await hub.nextEvent();
    assert.equal(event.kind, "tlsClientError");
    assert.match((event as { message: string }).message, /certificate/i);
    assert.equal(client.received, "");
  });
});

Deno.test("a CA-signed certificate without EKU passes TLS but is not an agent identity", async () => {
  const ca = await createCa();
  const keys = await generateEcKeyPair("P-256");
  const noEku = await x509.X509CertificateGenerator.create({
    subject: "O=otterscale, CN=agent-1",
    issuer: ca.cert.subjectName,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.SubjectAlternativeNameExtension([
        { type: "url", value: "spiffe://otterscale/cluster/cluster-a/agent/agent-1" },
      ]),
    ],
  });
  await withHub(ca, async (hub) => {
    await connectAgent(hub.port, {
      ca: ca.certPem,
      cert: noEku.toString("pem"),
      key: await exportPkcs8Pem(keys.privateKey),
      servername: tunnelName,
    });
    const event = await hub.nextEvent();
    // This is why clientIdentityFromPeerCert checks EKU itself.
    assert.equal(event.kind, "secure");
    assert.equal((event as { authorized: boolean }).authorized, true);
    assert.match((event as { refusal?: string }).refusal ?? "", /does not allow clientAuth/);
  });
});

Deno.test("the agent refuses a hub whose certificate does not match the name or the CA", async () => {
  const ca = await createCa();
  const credentials = await agentCredentials(ca);
  await withHub(ca, async (hub) => {
    const wrongName = await connectAgent(hub.port, {
      ca: ca.certPem,
      ...credentials,
      servername: "other.hub.test",
    });
    assert.match(wrongName.error ?? "", /altnames/, "a name not in the SANs must fail");
    assert.equal(wrongName.received, "");
    await hub.nextEvent();

    const otherCa = await createCa();
    const untrusted = await connectAgent(hub.port, {
      ca: otherCa.certPem,
      ...credentials,
      servername: tunnelName,
    });
    assert.match(untrusted.error ?? "", /verify/, "a server certificate from an unknown CA must fail");
    assert.equal(untrusted.received, "");
    await hub.nextEvent();
  });
});
