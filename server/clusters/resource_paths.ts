/**
 * REST paths of the Kubernetes API for a group/version/resource, as the apiserver lays them out:
 * `/api/v1[/namespaces/<ns>]/<resource>[/<name>]` for the core group, `/apis/<group>/<version>/...` for
 * the others. Every segment is checked and percent-encoded, so request fields cannot walk to another path.
 */
import { invalidArgument } from "../../shared/errors.ts";

export interface ResourceTarget {
  group: string;
  version: string;
  resource: string;
  /** Empty or absent: no namespace segment (cluster-scoped, or all namespaces for list and watch). */
  namespace?: string;
  name?: string;
}

/** `/api/v1` or `/apis/<group>/<version>`. */
export function groupVersionPath(group: string, version: string): string {
  return group === ""
    ? `/api/${segment("version", version)}`
    : `/apis/${segment("group", group)}/${segment("version", version)}`;
}

/** The collection path, or the object path when `name` is set. */
export function resourcePath(target: ResourceTarget): string {
  let path = groupVersionPath(target.group, target.version);
  if (target.namespace) path += `/namespaces/${segment("namespace", target.namespace)}`;
  path += `/${segment("resource", target.resource)}`;
  if (target.name) path += `/${segment("name", target.name)}`;
  return path;
}

/** Appends the parameters that have a value; false and "" are left out. */
export function withQuery(
  path: string,
  params: Record<string, string | number | boolean | undefined>,
): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === "" || value === false) continue;
    query.set(key, String(value));
  }
  const text = query.toString();
  return text === "" ? path : `${path}?${text}`;
}

/**
 * One path segment. "." and ".." would be resolved away by a URL normaliser and "/" would add a segment;
 * Kubernetes allows none of them in names, so they are request errors rather than something to encode.
 */
export function segment(field: string, value: string): string {
  if (value === "" || value === "." || value === ".." || value.includes("/")) {
    throw invalidArgument(`${field}: ${JSON.stringify(value)} is not a valid path segment`);
  }
  return encodeURIComponent(value);
}
