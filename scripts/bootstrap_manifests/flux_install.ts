/**
 * Flux's install manifests, assembled the way Flux's release does it but from Go modules only: the
 * flux2 module carries the install layout (namespace, RBAC, network policies, per-controller patches)
 * whose controller bases point at each controller's released CRD and Deployment files; each
 * controller's own module carries the sources of those two files (config/crd and config/manager), so
 * they are built with kustomize from the controller module at exactly the version flux2 names.
 * Controllers whose module version the proxy does not serve are left out and reported.
 */
import { cp, readdir } from "node:fs/promises";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import type { BundleSource, KubeObject, OmittedPart } from "../../agent/bootstrap/bundle.ts";
import { downloadGoModule } from "./go_module.ts";
import type { KustomizeBuild } from "./kustomize.ts";

export interface PartsBuild {
  objects: KubeObject[];
  sources: BundleSource[];
  omitted: OmittedPart[];
}

/** A controller base resource that points at a released file: owner, repository, version, file kind. */
const releaseAsset =
  /^https:\/\/github\.com\/([^/]+)\/([^/]+)\/releases\/download\/([^/]+)\/\2\.(crds|deployment)\.yaml$/;

interface Kustomization {
  resources?: string[];
  [key: string]: unknown;
}

export async function buildFluxInstall(
  flux: { module: string; version: string },
  kustomize: KustomizeBuild,
): Promise<PartsBuild> {
  const fluxModule = await downloadGoModule(flux.module, flux.version);
  if (!fluxModule.served) throw new Error(`${flux.module}@${flux.version}: ${fluxModule.reason}`);
  const work = await Deno.makeTempDir({ prefix: "flux-install-" });
  try {
    const manifests = join(work, "manifests");
    await cp(join(fluxModule.dir, "manifests"), manifests, { recursive: true });
    // The module cache is read-only; the copy must be editable.
    await makeWritable(manifests);

    const sources: BundleSource[] = [{ name: "flux", ...flux, sum: fluxModule.sum }];
    const omitted: OmittedPart[] = [];
    const installFile = join(manifests, "install", "kustomization.yaml");
    const install = await readKustomization(installFile);
    const kept: string[] = [];
    for (const resource of install.resources ?? []) {
      const base = /^\.\.\/bases\/([^/]+)$/.exec(resource)?.[1];
      if (!base) {
        kept.push(resource);
        continue;
      }
      const result = await localiseBase(join(manifests, "bases", base), base, kustomize);
      if ("reason" in result) omitted.push(result);
      else {
        sources.push(result);
        kept.push(resource);
      }
    }
    await writeKustomization(installFile, { ...install, resources: kept });
    return { objects: await kustomize(join(manifests, "install")), sources, omitted };
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/**
 * Replaces a base's released-file URLs with files built from the controller's module. Returns the
 * source used, or why the controller cannot be had.
 */
async function localiseBase(
  dir: string,
  name: string,
  kustomize: KustomizeBuild,
): Promise<BundleSource | OmittedPart> {
  const file = join(dir, "kustomization.yaml");
  const kustomization = await readKustomization(file);
  const assets = (kustomization.resources ?? []).map((r) => releaseAsset.exec(r)).filter((m) => m !== null);
  if (assets.length === 0) throw new Error(`flux base ${name} names no released controller files`);
  const [, owner, repo, version] = assets[0];
  if (assets.some((m) => m[1] !== owner || m[2] !== repo || m[3] !== version)) {
    throw new Error(`flux base ${name} mixes controllers or versions`);
  }
  const module = goModulePath(`github.com/${owner}/${repo}`, version);
  const source = `flux/${name}`;
  const downloaded = await downloadGoModule(module, version);
  if (!downloaded.served) return { name: source, module, version, reason: downloaded.reason };

  const built = {
    crds: await kustomize(join(downloaded.dir, "config", "crd")),
    deployment: await kustomize(join(downloaded.dir, "config", "manager")),
  };
  const resources = [];
  for (const resource of kustomization.resources ?? []) {
    const match = releaseAsset.exec(resource);
    if (!match) {
      resources.push(resource);
      continue;
    }
    const kind = match[4] as keyof typeof built;
    await Deno.writeTextFile(join(dir, `${kind}.yaml`), built[kind].map((o) => stringify(o)).join("---\n"));
    resources.push(`${kind}.yaml`);
  }
  await writeKustomization(file, { ...kustomization, resources });
  return { name: source, module, version, sum: downloaded.sum };
}

/** Go's rule: from major version 2 on, the module path ends in /vN. */
export function goModulePath(repositoryPath: string, version: string): string {
  const major = Number(/^v(\d+)\./.exec(version)?.[1] ?? NaN);
  if (!Number.isInteger(major)) throw new Error(`version ${version} of ${repositoryPath} is not semver`);
  return major >= 2 ? `${repositoryPath}/v${major}` : repositoryPath;
}

async function readKustomization(file: string): Promise<Kustomization> {
  return parse(await Deno.readTextFile(file)) as Kustomization;
}

async function writeKustomization(file: string, kustomization: Kustomization): Promise<void> {
  await Deno.remove(file);
  await Deno.writeTextFile(file, stringify(kustomization));
}

async function makeWritable(dir: string): Promise<void> {
  await Deno.chmod(dir, 0o755);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await makeWritable(path);
    else await Deno.chmod(path, 0o644);
  }
}
