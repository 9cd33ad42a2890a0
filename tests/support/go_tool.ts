/**
 * Real clients written in Go (grpc-health-probe, …), built from the Go module
 * proxy into the git-ignored .cache/tools/, keyed by version.
 */
import { join } from "node:path";
import { repoRoot } from "./repo.ts";

export async function goTool(modulePath: string, version: string): Promise<string> {
  const name = modulePath.split("/").at(-1)!;
  const dir = join(repoRoot, ".cache", "tools", `${name}-${version}`);
  const binary = join(dir, name);
  try {
    await Deno.stat(binary);
    return binary;
  } catch {
    // not built yet
  }
  console.error(`building ${modulePath}@${version} (one time)…`);
  const output = await new Deno.Command("go", {
    args: ["install", `${modulePath}@${version}`],
    env: { GOBIN: dir, CGO_ENABLED: "0" },
    stdout: "inherit",
    stderr: "inherit",
  }).output().catch((error) => {
    throw new Error(`cannot build ${modulePath}: is Go installed? (${error.message})`);
  });
  if (!output.success) throw new Error(`go install ${modulePath}@${version} failed with ${output.code}`);
  return binary;
}

export const grpcHealthProbe = () => goTool("github.com/grpc-ecosystem/grpc-health-probe", "v0.4.61");
