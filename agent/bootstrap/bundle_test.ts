import assert from "node:assert/strict";
import { bootstrapBundle, checkBundle, isCrd } from "./bundle.ts";

Deno.test("the committed bundle holds Flux from pinned, checksummed modules", () => {
  const flux = bootstrapBundle.sources.find((s) => s.name === "flux");
  assert.ok(flux, "no flux source");
  assert.match(flux.version, /^v2\.\d+\.\d+$/);
  for (const source of bootstrapBundle.sources) {
    assert.match(source.sum, /^h1:[A-Za-z0-9+/]+=*$/, source.name);
  }
  for (const part of bootstrapBundle.omitted) assert.ok(part.reason.length > 0, part.name);
  const names = bootstrapBundle.objects.map((o) => `${o.kind}/${o.metadata.name}`);
  for (
    const expected of [
      "Namespace/flux-system",
      "ResourceQuota/critical-pods",
      "CustomResourceDefinition/gitrepositories.source.toolkit.fluxcd.io",
      "CustomResourceDefinition/kustomizations.kustomize.toolkit.fluxcd.io",
      "CustomResourceDefinition/helmreleases.helm.toolkit.fluxcd.io",
      "Deployment/source-controller",
    ]
  ) assert.ok(names.includes(expected), `${expected} missing`);
});

Deno.test("every namespaced object of the bundle lives in a namespace the bundle creates first", () => {
  const created = new Set<string>();
  for (const object of bootstrapBundle.objects) {
    if (object.kind === "Namespace") created.add(object.metadata.name);
    const namespace = object.metadata.namespace;
    if (namespace) {
      assert.ok(created.has(namespace), `${object.kind} ${object.metadata.name} before ${namespace}`);
    }
  }
  assert.ok(bootstrapBundle.objects.some(isCrd));
});

Deno.test("checkBundle refuses a bundle with an object it could not apply", () => {
  assert.throws(() => checkBundle({ sources: [], omitted: [], objects: [{ kind: "X" }] }), /object 0/);
  assert.throws(() => checkBundle({}), /arrays/);
});
