/**
 * Decides whether a path reaches a Docker build context, the way .dockerignore
 * rules work: patterns in order, the last one that matches the path or one of
 * its parent directories wins, `!` lets a path back in; `*` and `?` stay within
 * one path segment, `**` spans any number of them.
 */

export interface IgnoreRule {
  pattern: RegExp;
  /** `!pattern`: the path is kept. */
  keep: boolean;
  source: string;
}

export function parseDockerignore(text: string): IgnoreRule[] {
  return text.split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"))
    .map((line) => {
      const keep = line.startsWith("!");
      const body = (keep ? line.slice(1) : line).trim().replace(/^\/+/, "").replace(/\/+$/, "");
      return { pattern: globToRegExp(body), keep, source: line };
    });
}

/** `path` is relative to the context root, with forward slashes. */
export function isIgnored(rules: IgnoreRule[], path: string): boolean {
  const segments = path.split("/");
  const candidates = segments.map((_, i) => segments.slice(0, i + 1).join("/"));
  let ignored = false;
  for (const rule of rules) {
    if (candidates.some((candidate) => rule.pattern.test(candidate))) ignored = !rule.keep;
  }
  return ignored;
}

function globToRegExp(glob: string): RegExp {
  let source = "";
  for (let i = 0; i < glob.length; i++) {
    const char = glob[i];
    if (char === "*" && glob[i + 1] === "*") {
      // `**/` matches zero or more whole segments; a trailing `**` matches everything below.
      if (glob[i + 2] === "/") {
        source += "(?:.*/)?";
        i += 2;
      } else {
        source += ".*";
        i += 1;
      }
    } else if (char === "*") source += "[^/]*";
    else if (char === "?") source += "[^/]";
    else source += char.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}
