/**
 * Release versions as the agent's self-update understands them: strict SemVer 2.0.0 `MAJOR.MINOR.PATCH`
 * with an optional `-prerelease`, and nothing else. Build metadata (`+…`) is refused: it does not
 * take part in precedence and `+` cannot appear in an image tag. Whatever parses here is also a valid
 * image tag, so a version from the hub can never smuggle a path, digest or `latest` into the image.
 */

export interface ReleaseVersion {
  major: bigint;
  minor: bigint;
  patch: bigint;
  prerelease: string[];
}

const numeric = "0|[1-9][0-9]*";
const identifier = `(?:${numeric}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)`;
const releasePattern = new RegExp(
  `^(${numeric})\\.(${numeric})\\.(${numeric})(?:-(${identifier}(?:\\.${identifier})*))?$`,
);
/** Image tags are at most 128 characters. */
const maxTagLength = 128;

export function parseReleaseVersion(text: string): ReleaseVersion | undefined {
  if (text.length > maxTagLength) return undefined;
  const match = releasePattern.exec(text);
  if (!match) return undefined;
  return {
    major: BigInt(match[1]),
    minor: BigInt(match[2]),
    patch: BigInt(match[3]),
    prerelease: match[4] ? match[4].split(".") : [],
  };
}

/** SemVer precedence: negative when `a` is older than `b`, 0 when equal, positive when newer. */
export function compareReleaseVersions(a: ReleaseVersion, b: ReleaseVersion): number {
  for (const key of ["major", "minor", "patch"] as const) {
    if (a[key] !== b[key]) return a[key] < b[key] ? -1 : 1;
  }
  // A pre-release comes before its release.
  if (a.prerelease.length === 0 && b.prerelease.length === 0) return 0;
  if (a.prerelease.length === 0) return 1;
  if (b.prerelease.length === 0) return -1;
  const shared = Math.min(a.prerelease.length, b.prerelease.length);
  for (let i = 0; i < shared; i++) {
    const order = compareIdentifiers(a.prerelease[i], b.prerelease[i]);
    if (order !== 0) return order;
  }
  return Math.sign(a.prerelease.length - b.prerelease.length);
}

function compareIdentifiers(a: string, b: string): number {
  const aNumeric = /^[0-9]+$/.test(a);
  const bNumeric = /^[0-9]+$/.test(b);
  if (aNumeric && bNumeric) return BigInt(a) === BigInt(b) ? 0 : BigInt(a) < BigInt(b) ? -1 : 1;
  // Numeric identifiers sort before alphanumeric ones.
  if (aNumeric !== bNumeric) return aNumeric ? -1 : 1;
  return a === b ? 0 : a < b ? -1 : 1;
}
