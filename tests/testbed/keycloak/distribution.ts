// Fetches the Keycloak server distribution by its Maven coordinates (mvn knows which registry to use) and
// unpacks it into the cache, keyed by version, so later runs reuse it.

export const KEYCLOAK_VERSION = "26.7.3";

export function distributionArtifact(version: string): string {
  return `org.keycloak:keycloak-quarkus-dist:${version}:zip`;
}

async function run(cmd: string, args: string[], what: string): Promise<void> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" }).output();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new Error(`${what}: command '${cmd}' is not installed`);
    throw err;
  }
  if (!output.success) {
    const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
    throw new Error(`${what}: '${cmd} ${args.join(" ")}' exited ${output.code}\n${text.slice(-4000)}`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** The unpacked distribution for `version` is complete once its launcher is in place. */
export function distributionHome(cacheDir: string, version: string): string {
  return `${cacheDir}/keycloak-${version}`;
}

/**
 * Returns the home folder of the unpacked distribution, fetching and unpacking it first when the cache
 * lacks it. Unpacking happens in a scratch folder that is renamed at the end, so an interrupted run never
 * leaves a half-unpacked distribution that a later run would mistake for a good one.
 */
export async function ensureDistribution(
  cacheDir: string,
  version = KEYCLOAK_VERSION,
  log: (line: string) => void = console.error,
): Promise<string> {
  const home = distributionHome(cacheDir, version);
  if (await exists(`${home}/bin/kc.sh`)) return home;

  await Deno.mkdir(cacheDir, { recursive: true });
  const scratch = await Deno.makeTempDir({ dir: cacheDir, prefix: `.fetch-${version}-` });
  try {
    const artifact = distributionArtifact(version);
    log(`keycloak: fetching ${artifact} with mvn (about 170 MB, once)`);
    const started = performance.now();
    await run("mvn", [
      "-B",
      "-q",
      "dependency:copy",
      `-Dartifact=${artifact}`,
      `-DoutputDirectory=${scratch}`,
    ], `fetching ${artifact}`);
    const zip = `${scratch}/keycloak-quarkus-dist-${version}.zip`;
    log(`keycloak: fetched in ${seconds(started)}; unpacking into ${home}`);
    await run("unzip", ["-q", zip, "-d", scratch], `unpacking ${zip}`);
    const unpacked = `${scratch}/keycloak-${version}`;
    if (!(await exists(`${unpacked}/bin/kc.sh`))) {
      throw new Error(`unpacking ${zip}: expected ${unpacked}/bin/kc.sh, not found`);
    }
    await Deno.rename(unpacked, home);
    log(`keycloak: distribution ${version} ready after ${seconds(started)}`);
    return home;
  } finally {
    await Deno.remove(scratch, { recursive: true });
  }
}

export function seconds(startedAt: number): string {
  return `${((performance.now() - startedAt) / 1000).toFixed(1)} s`;
}
