/**
 * The browser example in a real headless Chromium against a real hub, agent, cluster and
 * Keycloak: alice signs in on Keycloak's own login page (authorization code flow with PKCE),
 * the page lists the clusters and streams a Watch of ConfigMaps with Connect-Web, over the
 * Connect protocol and gRPC-Web, all cross-origin. A page on an origin the hub does not allow
 * is blocked by the browser itself.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { bundlePage, type PageConfig, servePage, type StaticServer } from "../../examples/browser/serve.ts";
import { chromiumFlags, ensureChromium } from "../support/chromium.ts";
import { type Fleet, startFleet } from "../support/fleet.ts";
import { repoRoot } from "../support/repo.ts";

const RUN = crypto.randomUUID().slice(0, 6);
const NAMESPACE = `browser-${RUN}`;
const CLUSTER = "alpha";
const screenshotDir = join(repoRoot, ".cache", "browser-example");

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

/** A namespace where alice's group may read (the `view` role), and nothing else. */
async function prepareNamespace(core: k8s.CoreV1Api, rbac: k8s.RbacAuthorizationV1Api): Promise<void> {
  await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
  await rbac.createNamespacedRoleBinding({
    namespace: NAMESPACE,
    body: {
      metadata: { name: "platform-admins-view" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "Group", name: "oidc:platform-admins" }],
    },
  });
}

function configMap(name: string, value: string): k8s.V1ConfigMap {
  return { metadata: { name, namespace: NAMESPACE }, data: { value } };
}

async function signIn(page: Page, realmUrl: string, username: string, password: string): Promise<void> {
  await page.click("#sign-in");
  await page.waitForSelector("#username", { timeout: 30_000 });
  assert.equal(new URL(page.url()).origin, new URL(realmUrl).origin, "not on Keycloak's own login page");
  await page.fill("#username", username);
  await page.fill("#password", password);
  await page.click("#kc-login");
}

Deno.test("browser example: Keycloak sign-in, ListClusters and Watch from another origin", async (t) => {
  const executablePath = await ensureChromium();
  const bundleDir = await Deno.makeTempDir({ prefix: "otterscale-browser-" });
  const userDataDir = await Deno.makeTempDir({ prefix: "otterscale-chromium-" });
  await bundlePage(bundleDir);

  const pagePort = freePort();
  const pageOrigin = `http://127.0.0.1:${pagePort}`;
  let fleet: Fleet | undefined;
  let context: BrowserContext | undefined;
  const servers: StaticServer[] = [];
  let core: k8s.CoreV1Api | undefined;
  try {
    fleet = await startFleet({ clusters: [CLUSTER], hubArgs: [`--allowed-origins=${pageOrigin}`] });
    const kubeconfig = new k8s.KubeConfig();
    kubeconfig.loadFromFile(fleet.testbed.clusters.find((c) => c.name === CLUSTER)!.kubeconfig);
    core = kubeconfig.makeApiClient(k8s.CoreV1Api);
    await prepareNamespace(core, kubeconfig.makeApiClient(k8s.RbacAuthorizationV1Api));

    const alice = fleet.testbed.users.find((u) => u.username === "alice")!;
    const config: PageConfig = {
      hubUrl: fleet.hub.url,
      realmUrl: fleet.testbed.keycloak.realmUrl,
      clientId: "otterscale-web",
      namespace: NAMESPACE,
      cluster: CLUSTER,
    };
    servers.push(servePage(bundleDir, config, pagePort));
    assert.notEqual(new URL(config.hubUrl).origin, pageOrigin, "the test must be cross-origin");

    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath,
      headless: true,
      args: chromiumFlags,
    });
    const page = context.pages()[0] ?? await context.newPage();
    const consoleLines: string[] = [];
    page.on("console", (message) => consoleLines.push(message.text()));

    await t.step("alice signs in on Keycloak's login page and comes back with a token", async () => {
      await page.goto(`${pageOrigin}/`);
      await signIn(page, config.realmUrl, alice.username, alice.password);
      await page.locator("#user", { hasText: /^alice$/ }).waitFor({ timeout: 30_000 });
      assert.equal(new URL(page.url()).origin, pageOrigin);
      assert.equal(new URL(page.url()).search, "", "code and state stay out of the address bar");
    });

    await t.step("the page lists the clusters (ListClusters over the Connect protocol)", async () => {
      const item = await page.waitForSelector(`#clusters li[data-cluster="${CLUSTER}"]`, { timeout: 30_000 });
      assert.match((await item.textContent()) ?? "", new RegExp(`^${CLUSTER} \\(agent \\S+\\)$`));
      assert.equal(await page.isVisible("#error"), false, await page.textContent("#error") ?? "");
    });

    await t.step(
      "the page streams a Watch: the ConfigMap the test creates, changes and deletes",
      async () => {
        const name = `seen-by-browser-${RUN}`;
        const events = (type: string) => `#events li[data-type="${type}"][data-name="${name}"]`;
        await core!.createNamespacedConfigMap({ namespace: NAMESPACE, body: configMap(name, "one") });
        await page.waitForSelector(events("ADDED"), { timeout: 30_000 });
        await core!.replaceNamespacedConfigMap({ name, namespace: NAMESPACE, body: configMap(name, "two") });
        await page.waitForSelector(events("MODIFIED"), { timeout: 30_000 });
        await core!.deleteNamespacedConfigMap({ name, namespace: NAMESPACE });
        await page.waitForSelector(events("DELETED"), { timeout: 30_000 });
        assert.equal(await page.getAttribute("#watch-status", "data-state"), "watching");
        await Deno.mkdir(screenshotDir, { recursive: true });
        await page.screenshot({ path: join(screenshotDir, "connect.png"), fullPage: true });
      },
    );

    await t.step("gRPC-Web: the same page, token kept in the tab, lists and watches", async () => {
      const name = `seen-over-grpc-web-${RUN}`;
      await page.goto(`${pageOrigin}/?protocol=grpc-web`);
      await page.waitForSelector(`#clusters li[data-cluster="${CLUSTER}"]`, { timeout: 30_000 });
      assert.equal(await page.textContent("#protocol"), "grpc-web");
      await core!.createNamespacedConfigMap({ namespace: NAMESPACE, body: configMap(name, "one") });
      await page.waitForSelector(`#events li[data-type="ADDED"][data-name="${name}"]`, { timeout: 30_000 });
      await page.screenshot({ path: join(screenshotDir, "grpc-web.png"), fullPage: true });
    });

    await t.step("a page on an origin the hub does not allow is blocked by the browser", async () => {
      const stranger = servePage(bundleDir, config);
      servers.push(stranger);
      consoleLines.length = 0;
      await page.goto(`${stranger.origin}/`);
      // Keycloak still knows alice (session cookie), so it sends her straight back.
      await page.click("#sign-in");
      await page.waitForSelector("#error:not([hidden])", { timeout: 30_000 });
      assert.match((await page.textContent("#error")) ?? "", /^ListClusters: /);
      assert.equal(await page.locator("#clusters li").count(), 0);
      assert.ok(
        consoleLines.some((line) => line.includes("CORS policy") && line.includes(stranger.origin)),
        `no CORS refusal in the console:\n${consoleLines.join("\n")}`,
      );
      await page.screenshot({ path: join(screenshotDir, "blocked-origin.png"), fullPage: true });
    });
  } finally {
    await context?.close();
    await Promise.all(servers.map((server) => server.close()));
    await core?.deleteNamespace({ name: NAMESPACE }).catch(() => {});
    await fleet?.close();
    await Deno.remove(bundleDir, { recursive: true });
    await Deno.remove(userDataDir, { recursive: true });
  }
});
