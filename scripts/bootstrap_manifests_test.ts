/**
 * The committed bootstrap bundle is exactly what the pinned Go modules produce (needs Go and the Go
 * module proxy; the first run builds kustomize into .cache/tools).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { goModulePath } from "./bootstrap_manifests/flux_install.ts";
import { parseObjects } from "./bootstrap_manifests/kustomize.ts";
import { bundleFile, generateBundle, serializeBundle } from "./bootstrap_manifests/generate.ts";

const repoRoot = join(import.meta.dirname!, "..");

Deno.test("agent/bootstrap/bundle.json is what the pinned modules produce", async () => {
  const generated = serializeBundle(await generateBundle(repoRoot));
  const committed = await Deno.readTextFile(join(repoRoot, bundleFile));
  assert.ok(
    committed === generated,
    `${bundleFile} is stale: run scripts/deno run -A scripts/bootstrap_manifests.ts`,
  );
});

Deno.test("module paths follow Go's major-version rule", () => {
  assert.equal(
    goModulePath("github.com/fluxcd/source-controller", "v1.9.5"),
    "github.com/fluxcd/source-controller",
  );
  assert.equal(
    goModulePath("github.com/fluxcd/source-watcher", "v2.2.4"),
    "github.com/fluxcd/source-watcher/v2",
  );
  assert.equal(goModulePath("example.com/m", "v0.3.0"), "example.com/m");
  assert.throws(() => goModulePath("example.com/m", "main"), /not semver/);
});

Deno.test("kustomize output parses into objects; empty documents are skipped, junk refused", () => {
  const objects = parseObjects("---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\n---\n", "t");
  assert.deepEqual(objects, [{ apiVersion: "v1", kind: "Namespace", metadata: { name: "a" } }]);
  assert.throws(() => parseObjects("just: data\n", "t"), /not a Kubernetes object/);
  assert.throws(() => parseObjects("a: [\n", "t"), /document 0/);
});
