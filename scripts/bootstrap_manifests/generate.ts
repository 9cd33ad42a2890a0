/**
 * The pinned sources of the agent's bootstrap bundle and how they become agent/bootstrap/bundle.json.
 *
 * - Flux: the flux2 module's install layout with the controllers it names (see flux_install.ts).
 *   The reference pins Flux v2.4.0, but the Go module proxy does not serve the controller modules of
 *   that release; v2.9.5 is the release whose source, kustomize and helm controllers it does serve.
 * - The OtterScale operator's CRDs: config/crd of its module at the reference's v0.2.6.
 * - kustomize itself, built from its module.
 *
 * A part the proxy does not serve is recorded under `omitted` (the agent logs it at every bootstrap);
 * anything else that fails stops the generation, so a partial bundle is never written by accident.
 */
import { join } from "node:path";
import type { BootstrapBundle, KubeObject, OmittedPart } from "../../agent/bootstrap/bundle.ts";
import { downloadGoModule, goProgram } from "./go_module.ts";
import { buildFluxInstall, type PartsBuild } from "./flux_install.ts";
import { type KustomizeBuild, kustomizeWith } from "./kustomize.ts";

export const pins = {
  kustomize: { pkg: "sigs.k8s.io/kustomize/kustomize/v5", version: "v5.7.1" },
  flux: { module: "github.com/fluxcd/flux2/v2", version: "v2.9.5" },
  operator: { module: "github.com/otterscale/otterscale-operator", version: "v0.2.6" },
};

export const bundleFile = "agent/bootstrap/bundle.json";

export async function generateBundle(repoRoot: string): Promise<BootstrapBundle> {
  const kustomize = kustomizeWith(
    await goProgram(pins.kustomize.pkg, pins.kustomize.version, join(repoRoot, ".cache", "tools")),
  );
  const flux = await buildFluxInstall(pins.flux, kustomize);
  const operator = await buildOperatorCrds(pins.operator, kustomize);
  return {
    generatedBy: "scripts/bootstrap_manifests.ts",
    sources: [...flux.sources, ...operator.sources],
    omitted: [...flux.omitted, ...operator.omitted],
    objects: [...flux.objects, ...operator.objects],
  };
}

async function buildOperatorCrds(
  operator: { module: string; version: string },
  kustomize: KustomizeBuild,
): Promise<PartsBuild> {
  const downloaded = await downloadGoModule(operator.module, operator.version);
  if (!downloaded.served) {
    const omitted: OmittedPart = { name: "otterscale-operator", ...operator, reason: downloaded.reason };
    return { objects: [], sources: [], omitted: [omitted] };
  }
  const objects: KubeObject[] = await kustomize(join(downloaded.dir, "config", "crd"));
  return {
    objects: objects.filter((o) => o.kind === "CustomResourceDefinition"),
    sources: [{ name: "otterscale-operator", ...operator, sum: downloaded.sum }],
    omitted: [],
  };
}

/** The file's exact text: two-space JSON, which is also how `deno fmt` lays it out. */
export function serializeBundle(bundle: BootstrapBundle): string {
  return JSON.stringify(bundle, null, 2) + "\n";
}
