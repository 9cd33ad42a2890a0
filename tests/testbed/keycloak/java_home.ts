// Keycloak 26 needs Java 21 or newer, while the machine's default `java` may be older. JDKs installed by
// Debian packages (distribution or Temurin) live side by side under this folder.
const JVM_ROOT = "/usr/lib/jvm";

export const MIN_JAVA_MAJOR = 21;

/** Reads the major version from a JDK's `release` file (`JAVA_VERSION="25.0.3"` → 25; `"1.8.0"` → 8). */
export function parseReleaseMajor(releaseText: string): number | undefined {
  const match = releaseText.match(/^JAVA_VERSION="([0-9]+)(?:\.([0-9]+))?/m);
  if (!match) return undefined;
  const first = Number(match[1]);
  return first === 1 && match[2] !== undefined ? Number(match[2]) : first;
}

async function javaMajorOf(javaHome: string): Promise<number | undefined> {
  try {
    await Deno.stat(`${javaHome}/bin/java`);
    return parseReleaseMajor(await Deno.readTextFile(`${javaHome}/release`));
  } catch {
    return undefined;
  }
}

async function candidateHomes(): Promise<string[]> {
  const homes: string[] = [];
  const fromEnv = Deno.env.get("JAVA_HOME");
  if (fromEnv) homes.push(fromEnv);
  try {
    for await (const entry of Deno.readDir(JVM_ROOT)) homes.push(`${JVM_ROOT}/${entry.name}`);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return homes;
}

/**
 * Picks the oldest JDK whose major version is at least `minMajor`: Keycloak is certified on specific LTS
 * releases (21, 25), so the oldest that qualifies is the least likely to be ahead of what it supports.
 */
export async function findJavaHome(minMajor = MIN_JAVA_MAJOR): Promise<{ home: string; major: number }> {
  const seen = new Set<string>();
  const found: { home: string; major: number }[] = [];
  for (const home of await candidateHomes()) {
    let real: string;
    try {
      real = await Deno.realPath(home);
    } catch {
      continue;
    }
    if (seen.has(real)) continue;
    seen.add(real);
    const major = await javaMajorOf(real);
    if (major !== undefined && major >= minMajor) found.push({ home: real, major });
  }
  found.sort((a, b) => a.major - b.major || a.home.localeCompare(b.home));
  if (found.length === 0) {
    throw new Error(
      `no JDK ${minMajor}+ found (looked at $JAVA_HOME and ${JVM_ROOT}/*); Keycloak needs Java ${minMajor} or ` +
        `newer: install one, e.g. a Temurin ${minMajor} JDK package`,
    );
  }
  return found[0];
}
