/** `kustomize build` with the kustomize program built from its Go module, and its output as objects. */
import { parseAllDocuments } from "yaml";
import type { KubeObject } from "../../agent/bootstrap/bundle.ts";

export type KustomizeBuild = (dir: string) => Promise<KubeObject[]>;

export function kustomizeWith(binary: string): KustomizeBuild {
  return async (dir) => {
    const output = await new Deno.Command(binary, {
      args: ["build", dir],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!output.success) {
      throw new Error(`kustomize build ${dir} failed: ${new TextDecoder().decode(output.stderr).trim()}`);
    }
    return parseObjects(new TextDecoder().decode(output.stdout), `kustomize build ${dir}`);
  };
}

/** Every non-empty document of a multi-document YAML stream, each of which must be a Kubernetes object. */
export function parseObjects(text: string, origin: string): KubeObject[] {
  const objects: KubeObject[] = [];
  for (const [i, document] of parseAllDocuments(text).entries()) {
    if (document.errors.length > 0) {
      throw new Error(`${origin}: document ${i}: ${document.errors[0].message}`);
    }
    const value = document.toJS();
    if (value === null || value === undefined) continue;
    if (typeof value.apiVersion !== "string" || typeof value.kind !== "string" || !value.metadata?.name) {
      throw new Error(`${origin}: document ${i} is not a Kubernetes object with a name`);
    }
    objects.push(value as KubeObject);
  }
  return objects;
}
