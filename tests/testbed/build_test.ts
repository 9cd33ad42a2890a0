import assert from "node:assert/strict";
import { join } from "node:path";
import { readModuleVersions } from "./build.ts";
import { testbedPaths } from "./paths.ts";

Deno.test("versions come from the bed's go.mod: the required release, never a replace target", async () => {
  const versions = await readModuleVersions(join(testbedPaths().goModuleDir, "go.mod"));
  assert.match(versions.get("k8s.io/kubernetes") ?? "", /^v1\.\d+\.\d+$/);
  assert.match(versions.get("sigs.k8s.io/kwok") ?? "", /^v0\.\d+\.\d+$/);
  assert.match(versions.get("go.etcd.io/etcd/server/v3") ?? "", /^v3\.\d+\.\d+$/);
  // Staging modules are required at v0.0.0 by k8s.io/kubernetes and mapped by `replace` lines.
  assert.notEqual(versions.get("k8s.io/api"), "v0.0.0");
});

Deno.test("readModuleVersions reads single-line and block requires and skips replace lines", async () => {
  const file = await Deno.makeTempFile({ suffix: ".mod" });
  try {
    await Deno.writeTextFile(
      file,
      [
        "module example.test/m",
        "require a.test/one v1.2.3",
        "require (",
        "\tb.test/two v0.4.0 // indirect",
        ")",
        "replace (",
        "\tc.test/three => c.test/three v9.9.9",
        ")",
      ].join("\n"),
    );
    const versions = await readModuleVersions(file);
    assert.deepEqual(Object.fromEntries(versions), { "a.test/one": "v1.2.3", "b.test/two": "v0.4.0" });
  } finally {
    await Deno.remove(file);
  }
});
