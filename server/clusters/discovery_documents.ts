/**
 * The apiserver's discovery documents turned into flat resource entries: aggregated discovery
 * (`apidiscovery.k8s.io/v2` APIGroupDiscoveryList from `/api` and `/apis`) and the legacy documents
 * (APIVersions, APIGroupList, APIResourceList per group-version). Subresources become their own entries
 * named `<resource>/<subresource>`, as legacy discovery lists them.
 */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { asObject } from "./objects.ts";

export interface DiscoveredResource {
  group: string;
  version: string;
  /** Plural name; `<resource>/<subresource>` for subresources. */
  resource: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
  shortNames: string[];
}

/** Resources of one group-version; `error` is set when its discovery failed (it then has none). */
export interface GroupVersionResources {
  group: string;
  version: string;
  resources: DiscoveredResource[];
  error?: string;
}

/** The Accept header asking for aggregated discovery, with the legacy documents as the fallback. */
export const AGGREGATED_DISCOVERY_ACCEPT =
  "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";

export type DiscoveryRoot =
  | { kind: "aggregated"; groupVersions: GroupVersionResources[] }
  /** Legacy: the group-versions whose APIResourceList must be fetched one by one. */
  | { kind: "legacy"; groupVersions: { group: string; version: string }[] };

/** Reads the answer of `/api` or `/apis`, whichever form the apiserver chose. */
export function parseDiscoveryRoot(body: JsonValue, path: string): DiscoveryRoot {
  const root = asObject(body);
  switch (root?.kind) {
    case "APIGroupDiscoveryList":
      return { kind: "aggregated", groupVersions: parseAggregated(root) };
    case "APIVersions":
      return {
        kind: "legacy",
        groupVersions: strings(root.versions).map((version) => ({ group: "", version })),
      };
    case "APIGroupList":
      return { kind: "legacy", groupVersions: parseGroupList(root) };
    default:
      throw new Error(`${path} answered an unknown discovery document (kind ${JSON.stringify(root?.kind)})`);
  }
}

function parseAggregated(list: JsonObject): GroupVersionResources[] {
  const result: GroupVersionResources[] = [];
  for (const item of objects(list.items)) {
    const group = stringOf(asObject(item.metadata)?.name);
    for (const entry of objects(item.versions)) {
      const version = stringOf(entry.version);
      if (version === "") continue;
      // A Stale version is an aggregated API (e.g. metrics) the apiserver could not reach lately.
      if (entry.freshness === "Stale") {
        result.push({ group, version, resources: [], error: "the apiserver reports this API as stale" });
        continue;
      }
      const resources: DiscoveredResource[] = [];
      for (const resource of objects(entry.resources)) {
        const name = stringOf(resource.resource);
        if (name === "") continue;
        const namespaced = resource.scope === "Namespaced";
        resources.push({
          group,
          version,
          resource: name,
          kind: stringOf(asObject(resource.responseKind)?.kind),
          namespaced,
          verbs: strings(resource.verbs),
          shortNames: strings(resource.shortNames),
        });
        for (const sub of objects(resource.subresources)) {
          const subName = stringOf(sub.subresource);
          if (subName === "") continue;
          resources.push({
            group,
            version,
            resource: `${name}/${subName}`,
            kind: stringOf(asObject(sub.responseKind)?.kind),
            namespaced,
            verbs: strings(sub.verbs),
            shortNames: [],
          });
        }
      }
      result.push({ group, version, resources });
    }
  }
  return result;
}

function parseGroupList(list: JsonObject): { group: string; version: string }[] {
  const result: { group: string; version: string }[] = [];
  for (const group of objects(list.groups)) {
    const name = stringOf(group.name);
    for (const entry of objects(group.versions)) {
      const version = stringOf(entry.version);
      if (name !== "" && version !== "") result.push({ group: name, version });
    }
  }
  return result;
}

/** A legacy APIResourceList (`/api/v1`, `/apis/<group>/<version>`). */
export function parseResourceList(body: JsonValue, group: string, version: string): DiscoveredResource[] {
  const list = asObject(body);
  if (list?.kind !== "APIResourceList") {
    throw new Error(`expected an APIResourceList, got kind ${JSON.stringify(list?.kind)}`);
  }
  return objects(list.resources).filter((resource) => stringOf(resource.name) !== "").map((resource) => ({
    group,
    version,
    resource: stringOf(resource.name),
    kind: stringOf(resource.kind),
    namespaced: resource.namespaced === true,
    verbs: strings(resource.verbs),
    shortNames: strings(resource.shortNames),
  }));
}

function objects(value: JsonValue | undefined): JsonObject[] {
  if (!Array.isArray(value)) return [];
  return value.map((item) => asObject(item)).filter((item): item is JsonObject => item !== undefined);
}

function strings(value: JsonValue | undefined): string[] {
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
}

function stringOf(value: JsonValue | undefined): string {
  return typeof value === "string" ? value : "";
}
