/**
 * Regenerates agent/bootstrap/bundle.json, the objects the agent's bootstrap applies, from pinned Go
 * modules (see bootstrap_manifests/generate.ts for what and why). Needs Go; the first run builds
 * kustomize into .cache/tools.
 *
 *   scripts/deno run -A scripts/bootstrap_manifests.ts           write the bundle
 *   scripts/deno run -A scripts/bootstrap_manifests.ts --check   exit 1 if the committed bundle is stale
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import { bundleFile, generateBundle, serializeBundle } from "./bootstrap_manifests/generate.ts";

const repoRoot = join(import.meta.dirname!, "..");

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { check: { type: "boolean" } } });
  const bundle = await generateBundle(repoRoot);
  const text = serializeBundle(bundle);
  const path = join(repoRoot, bundleFile);
  for (const part of bundle.omitted) {
    console.error(`left out ${part.name} (${part.module}@${part.version}): ${part.reason}`);
  }
  if (values.check) {
    const current = await Deno.readTextFile(path).catch(() => "");
    if (current !== text) {
      console.error(
        `${bundleFile} is not what the pinned modules produce; run scripts/bootstrap_manifests.ts`,
      );
      return 1;
    }
    console.error(`${bundleFile} is up to date (${bundle.objects.length} objects)`);
    return 0;
  }
  await Deno.writeTextFile(path, text);
  console.error(
    `wrote ${bundleFile}: ${bundle.objects.length} objects from ${bundle.sources.length} modules`,
  );
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
