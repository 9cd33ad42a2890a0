/**
 * Go modules as a source of files: `go mod download` fetches a pinned module version through the Go
 * module proxy, verifies it against Go's checksum database, and says where it unpacked it.
 */
import { join } from "node:path";

export type DownloadedModule = { served: true; dir: string; sum: string } | { served: false; reason: string };

const goBinary = () => Deno.env.get("GO") ?? "go";

/**
 * The module's directory in the module cache. A version the proxy refuses is reported as not served
 * (callers decide whether they can do without it); any other failure throws.
 */
export async function downloadGoModule(module: string, version: string): Promise<DownloadedModule> {
  // An empty directory, so that no go.mod around us changes how the module is resolved.
  const cwd = await Deno.makeTempDir({ prefix: "go-mod-download-" });
  try {
    const output = await new Deno.Command(goBinary(), {
      args: ["mod", "download", "-json", `${module}@${version}`],
      cwd,
      env: { GOWORK: "off" },
      stdout: "piped",
      stderr: "piped",
    }).output().catch((error) => {
      throw new Error(`cannot run go to download ${module}@${version}: is Go installed? (${error.message})`);
    });
    const text = new TextDecoder().decode(output.stdout);
    let info: { Dir?: string; Sum?: string; Error?: string };
    try {
      info = JSON.parse(text);
    } catch {
      throw new Error(
        `go mod download ${module}@${version} printed no JSON: ${new TextDecoder().decode(output.stderr)}`,
      );
    }
    if (info.Error) {
      // The proxy answers 403/404 "not available" for versions it does not serve; that is an answer,
      // not a hiccup, so the caller may leave the part out. Anything else (network, checksum) stops us.
      if (/\b(403|404|410)\b|not available|not found|unknown revision/i.test(info.Error)) {
        return { served: false, reason: "not served by the Go module proxy" };
      }
      throw new Error(`go mod download ${module}@${version}: ${info.Error}`);
    }
    if (!output.success || !info.Dir || !info.Sum) {
      throw new Error(
        `go mod download ${module}@${version} failed: ${new TextDecoder().decode(output.stderr)}`,
      );
    }
    return { served: true, dir: info.Dir, sum: info.Sum };
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
}

/**
 * A Go program built from its module at a pinned version into `<cacheDir>/<name>-<version>/<name>`;
 * built once, then reused.
 */
export async function goProgram(pkg: string, version: string, cacheDir: string): Promise<string> {
  const name = pkg.split("/").filter((part) => !/^v\d+$/.test(part)).at(-1)!;
  const dir = join(cacheDir, `${name}-${version}`);
  const binary = join(dir, name);
  try {
    await Deno.stat(binary);
    return binary;
  } catch {
    // not built yet
  }
  console.error(`building ${pkg}@${version} from the Go module proxy (one time)…`);
  const output = await new Deno.Command(goBinary(), {
    args: ["install", `${pkg}@${version}`],
    env: { GOBIN: dir, CGO_ENABLED: "0", GOWORK: "off" },
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!output.success) throw new Error(`go install ${pkg}@${version} failed with exit code ${output.code}`);
  return binary;
}
