/**
 * Agents enrol and serve their clusters through one mutual-TLS tunnel each:
 * the real hub and agent processes, the test bed's clusters and Keycloak.
 */
import assert from "node:assert/strict";
import * as tls from "node:tls";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { FleetService } from "../../shared/gen/otterscale/fleet/v1/fleet_pb.ts";
import { createAgentKey, createCa, createCsr, verifyAndIssueClientCert } from "../../shared/pki/mod.ts";
import { YamuxSession } from "../../shared/tunnel/session.ts";
import { startFleet } from "../support/fleet.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

Deno.test("agents enrol, are listed, leave, and come back", async (t) => {
  const fleet = await startFleet({ clusters: ["alpha", "beta"] });
  const fleetClient = () =>
    createClient(FleetService, createConnectTransport({ baseUrl: fleet.hub.url, httpVersion: "1.1" }));
  // One token for every poll: a password grant per poll would load Keycloak and stretch each poll, which
  // would blur the timings measured below (Keycloak's access tokens outlive this test).
  let aliceToken: Promise<string> | undefined;
  const listed = async () => {
    aliceToken ??= fleet.token("alice");
    const headers = { authorization: `Bearer ${await aliceToken}` };
    return (await fleetClient().listClusters({}, { headers })).clusters.map((c) => c.name);
  };
  const until = async (what: string, check: () => Promise<boolean>, timeoutMs: number) => {
    const started = Date.now();
    while (!(await check())) {
      assert.ok(Date.now() - started < timeoutMs, `${what} did not happen within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
    return Date.now() - started;
  };
  try {
    await t.step("both agents are listed with their version", async () => {
      const headers = { authorization: `Bearer ${await fleet.token("bob")}` };
      const { clusters } = await fleetClient().listClusters({}, { headers });
      assert.deepEqual(clusters.map((c) => [c.name, c.agentVersion]), [["alpha", "0.1.0"], [
        "beta",
        "0.1.0",
      ]]);
    });

    await t.step("a CSR for beta with alpha's enrolment token is refused", async () => {
      const key = await createAgentKey();
      const error = await fleetClient().register({
        cluster: "beta",
        agentId: "intruder",
        agentVersion: "0.1.0",
        csr: encoder.encode(await createCsr({ cluster: "beta", agentId: "intruder", keys: key.keys })),
        enrolmentToken: await fleet.enrolmentToken("alpha"),
      }).then(() => undefined, (e) => ConnectError.from(e));
      assert.equal(error?.code, Code.PermissionDenied, error?.message);
      const anonymous = await fleetClient().register({
        cluster: "beta",
        agentId: "intruder",
        csr: encoder.encode(await createCsr({ cluster: "beta", agentId: "intruder", keys: key.keys })),
      }).then(() => undefined, (e) => ConnectError.from(e));
      assert.equal(anonymous?.code, Code.Unauthenticated, anonymous?.message);
      assert.deepEqual(await listed(), ["alpha", "beta"], "nothing was taken over");
    });

    await t.step("a client certificate from another CA is refused at the TLS layer", async () => {
      const otherCa = await createCa();
      const key = await createAgentKey();
      const csrPem = await createCsr({ cluster: "alpha", agentId: "forger", keys: key.keys });
      const forged = await verifyAndIssueClientCert({
        csrPem,
        cluster: "alpha",
        agentId: "forger",
        ca: otherCa,
      });
      const outcome = await new Promise<string>((resolve) => {
        const socket = tls.connect({
          host: "127.0.0.1",
          port: fleet.hub.tunnelPort,
          cert: forged.certPem,
          key: key.keyPem,
          rejectUnauthorized: false,
          minVersion: "TLSv1.3",
        });
        socket.once("secureConnect", () => {
          // TLS 1.3: the client finishes first; the server's verdict comes as an alert or a close.
          socket.once("data", () => resolve("data"));
          socket.write("hello");
        });
        socket.once("error", (error) => resolve(`error: ${error.message}`));
        socket.once("close", () => resolve("closed"));
      });
      assert.notEqual(outcome, "data");
      assert.deepEqual(await listed(), ["alpha", "beta"]);
    });

    await t.step("an enrolled agent cannot open a stream toward the hub", async () => {
      const key = await createAgentKey();
      const response = await fleetClient().register({
        cluster: "gamma",
        agentId: "curious",
        csr: encoder.encode(await createCsr({ cluster: "gamma", agentId: "curious", keys: key.keys })),
        enrolmentToken: await fleet.enrolmentToken("gamma"),
      });
      const socket = await new Promise<tls.TLSSocket>((resolve, reject) => {
        const s = tls.connect({
          host: "127.0.0.1",
          port: fleet.hub.tunnelPort,
          ca: decoder.decode(response.caCertificate),
          cert: decoder.decode(response.certificate),
          key: key.keyPem,
          minVersion: "TLSv1.3",
        });
        s.once("secureConnect", () => resolve(s));
        s.once("error", reject);
      });
      // The agent side of a yamux session may only answer; here it tries to open.
      const session = new YamuxSession(socket, { role: "server", keepAliveIntervalMs: 0 });
      try {
        await until("gamma listed", async () => (await listed()).includes("gamma"), 15_000);
        const stream = session.openStream();
        const refused = await new Promise<Error | undefined>((resolve) => {
          stream.once("error", resolve);
          stream.once("data", () => resolve(undefined));
          stream.once("end", () => resolve(undefined));
          stream.write("GET / HTTP/1.1\r\nhost: hub\r\n\r\n");
        });
        assert.ok(refused, "the hub reset the stream");
      } finally {
        await session.close();
      }
      await until("gamma gone", async () => !(await listed()).includes("gamma"), 15_000);
    });

    await t.step("a frozen agent (half-open tunnel) leaves the list within 30 s", async () => {
      const beta = fleet.agents.get("beta")!;
      beta.child.kill("SIGSTOP");
      try {
        const tookMs = await until("beta gone", async () => !(await listed()).includes("beta"), 30_000);
        console.log(`frozen agent left the list after ${tookMs} ms`);
      } finally {
        beta.child.kill("SIGCONT");
      }
      // Thawed, it notices its tunnel is gone and comes back by itself.
      await until("beta back", async () => (await listed()).includes("beta"), 60_000);
    });

    await t.step("after a hub restart the agents return by themselves under the same CA", async () => {
      await fleet.restartHub();
      const tookMs = await until(
        "both back",
        async () => JSON.stringify(await listed().catch(() => [])) === '["alpha","beta"]',
        60_000,
      );
      console.log(`agents back ${tookMs} ms after the hub restarted`);
      assert.ok(fleet.hub.lines.some((l) => l.includes('"msg":"loaded the tunnel CA"')), "the CA was reused");
    });
  } finally {
    await fleet.close();
  }
});

Deno.test("an agent renews its certificate before expiry without dropping its tunnel", async () => {
  const fleet = await startFleet({ clusters: ["alpha"], hubArgs: ["--tunnel-certificate-lifetime=12s"] });
  const agent = fleet.agents.get("alpha")!;
  try {
    // Two renewals: the 12 s certificate is renewed at ~8 s and again at ~16 s,
    // so the first certificate has expired by the time of the check.
    const renewals = () => agent.lines.filter((l) => l.includes('"msg":"certificate renewed"')).length;
    const deadline = Date.now() + 30_000;
    while (renewals() < 2) {
      assert.ok(Date.now() < deadline, `only ${renewals()} renewal(s) within 30 s`);
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(!agent.lines.some((l) => l.includes('"msg":"tunnel down"')), "the tunnel never dropped");
    const headers = { authorization: `Bearer ${await fleet.token("alice")}` };
    const client = createClient(
      FleetService,
      createConnectTransport({ baseUrl: fleet.hub.url, httpVersion: "1.1" }),
    );
    assert.deepEqual((await client.listClusters({}, { headers })).clusters.map((c) => c.name), ["alpha"]);
    const renewed = fleet.hub.lines.filter((l) => l.includes('"msg":"agent certificate renewed"')).length;
    assert.ok(renewed >= 2, `the hub renewed ${renewed} times`);
  } finally {
    await fleet.close();
  }
});
