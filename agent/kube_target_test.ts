import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadKubeTarget, tokenFileCredential } from "./kube_target.ts";

const CA_PEM = "-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n";
const CERT_PEM = "-----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n";
const KEY_PEM = "-----BEGIN EC PRIVATE KEY-----\na2V5\n-----END EC PRIVATE KEY-----\n";

function kubeconfig(cluster: Record<string, unknown>, user: Record<string, unknown>, name = "c"): string {
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name, cluster }],
    users: [{ name: `${name}-user`, user }],
    contexts: [{ name, context: { cluster: name, user: `${name}-user` } }],
    "current-context": name,
  });
}

async function withDir(run: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), "kube-target-test-"));
  try {
    await run(dir);
  } finally {
    await rm(dir, { recursive: true });
  }
}

const noEnv = () => undefined;

Deno.test("kube target: a kubeconfig with a token and inline CA", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "config");
    await writeFile(
      path,
      kubeconfig({
        server: "https://10.1.2.3:6443/",
        "certificate-authority-data": btoa(CA_PEM),
        "tls-server-name": "kubernetes.default",
      }, { token: "sa-token\n" }),
    );
    const target = loadKubeTarget({ kubeconfigPath: path, env: noEnv });
    assert.equal(target.url.href, "https://10.1.2.3:6443/");
    assert.deepEqual(target.tls, {
      ca: CA_PEM,
      cert: undefined,
      key: undefined,
      rejectUnauthorized: true,
      servername: "kubernetes.default",
    });
    assert.equal(target.authorization(), "Bearer sa-token");
    assert.equal(target.source, path);
  });
});

Deno.test("kube target: a client certificate from files next to the kubeconfig", async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, "ca.crt"), CA_PEM);
    await writeFile(join(dir, "client.crt"), CERT_PEM);
    await writeFile(join(dir, "client.key"), KEY_PEM);
    const path = join(dir, "config");
    await writeFile(
      path,
      kubeconfig({ server: "https://127.0.0.1:16443", "certificate-authority": "ca.crt" }, {
        "client-certificate": "client.crt",
        "client-key": "client.key",
      }),
    );
    const target = loadKubeTarget({ kubeconfigPath: path, env: noEnv });
    assert.equal(target.tls.ca, CA_PEM);
    assert.equal(target.tls.cert, CERT_PEM);
    assert.equal(target.tls.key, KEY_PEM);
    assert.equal(target.authorization(), undefined, "the certificate is the identity");
  });
});

Deno.test("kube target: KUBECONFIG lists files; the first one's context wins", async () => {
  await withDir(async (dir) => {
    const first = join(dir, "first");
    const second = join(dir, "second");
    await writeFile(
      first,
      kubeconfig({ server: "https://first:443", "insecure-skip-tls-verify": true }, { token: "a" }, "one"),
    );
    await writeFile(second, kubeconfig({ server: "https://second:443" }, { token: "b" }, "two"));
    const env: Record<string, string> = { KUBECONFIG: `${first}:${second}` };
    const target = loadKubeTarget({ env: (name) => env[name] });
    assert.equal(target.url.host, "first");
    assert.equal(target.tls.rejectUnauthorized, false);
    assert.equal(target.authorization(), "Bearer a");
  });
});

Deno.test("kube target: in-cluster from the ServiceAccount mount", async () => {
  await withDir(async (dir) => {
    await writeFile(join(dir, "ca.crt"), CA_PEM);
    await writeFile(join(dir, "token"), "projected-token");
    for (const [host, expected] of [["10.96.0.1", "https://10.96.0.1/"], ["fd00::1", "https://[fd00::1]/"]]) {
      const env: Record<string, string> = { KUBERNETES_SERVICE_HOST: host, KUBERNETES_SERVICE_PORT: "443" };
      const target = loadKubeTarget({ env: (name) => env[name], serviceAccountDir: dir });
      assert.equal(target.url.href, expected);
      assert.equal(target.tls.ca, CA_PEM);
      assert.equal(target.tls.rejectUnauthorized, true);
      assert.equal(target.authorization(), "Bearer projected-token");
      assert.equal(target.source, "in-cluster");
    }
  });
});

Deno.test("kube target: the token file is read again when old or rejected, and a failed read keeps the last", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "token");
    await writeFile(path, "one");
    let now = 0;
    const credential = tokenFileCredential(path, 60_000, () => now);
    assert.equal(credential.authorization(), "Bearer one");
    await writeFile(path, "two\n");
    now = 59_999;
    assert.equal(credential.authorization(), "Bearer one", "not yet a minute old");
    now = 60_000;
    assert.equal(credential.authorization(), "Bearer two");
    await writeFile(path, "three");
    credential.rejected();
    assert.equal(credential.authorization(), "Bearer three", "read again right after a 401");
    await rm(path);
    now = 200_000;
    assert.equal(credential.authorization(), "Bearer three", "kept while the file is missing");
    await writeFile(path, "four");
    assert.equal(credential.authorization(), "Bearer four", "tried again on the next request");
  });
});

Deno.test("kube target: errors name what is missing or unsupported", async () => {
  assert.throws(() => loadKubeTarget({ env: noEnv }), /KUBERNETES_SERVICE_HOST\/PORT are unset/);
  await withDir(async (dir) => {
    const env: Record<string, string> = {
      KUBERNETES_SERVICE_HOST: "10.96.0.1",
      KUBERNETES_SERVICE_PORT: "443",
    };
    assert.throws(
      () => loadKubeTarget({ env: (name) => env[name], serviceAccountDir: dir }),
      new RegExp(`in-cluster: .*${join(dir, "ca.crt")}`),
    );
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ exec: { command: "aws" } }, /exec credential plugins are not supported/],
      [{}, /neither a token nor a client certificate/],
      [{ username: "u", password: "p" }, /basic auth/],
      [{ token: "t", as: "someone" }, /impersonation/],
    ];
    for (const [user, message] of cases) {
      const path = join(dir, "config");
      await writeFile(path, kubeconfig({ server: "https://k:6443" }, user));
      assert.throws(() => loadKubeTarget({ kubeconfigPath: path, env: noEnv }), message);
    }
    assert.throws(
      () => loadKubeTarget({ kubeconfigPath: join(dir, "absent"), env: noEnv }),
      /reading kubeconfig .*absent/,
    );
  });
});
