/**
 * Per-cluster discovery cache: which group-versions and resources a cluster serves, so that every
 * resource RPC validates its group/version/resource (and learns whether it is namespaced) without an
 * extra round trip.
 *
 * - Fetched with aggregated discovery (`/api` + `/apis`, two requests) when served, else the legacy
 *   documents (one request per group-version). A group-version that fails is skipped and logged; the
 *   rest is still used (an unreachable aggregated API must not hide the whole cluster).
 * - Refreshed when a lookup misses (at most once per `missRefreshMs`, so that a new CRD becomes usable
 *   within seconds while a stream of bad requests cannot hammer the apiserver), in the background once a
 *   snapshot is older than `maxAgeMs`, and from scratch when the cluster's agent reconnects (a new tunnel
 *   may lead to an upgraded cluster).
 * - Shared by all users and filled with the identity of whichever caller needed it first. Discovery is
 *   readable by every authenticated user by default (ClusterRole system:discovery), so this shares
 *   nothing a caller could not read; it never decides authorisation: every object request still goes out
 *   as the caller, and the cluster's RBAC answers it.
 * - Concurrent fetches for one cluster are merged, and run detached from the first caller's
 *   cancellation, under their own time limit.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "../../shared/log.ts";
import type { Identity } from "../auth/identity.ts";
import {
  AGGREGATED_DISCOVERY_ACCEPT,
  type DiscoveredResource,
  type GroupVersionResources,
  parseDiscoveryRoot,
  parseResourceList,
} from "./discovery_documents.ts";
import type { ClusterAccess } from "./kube.ts";
import { callJson, type ClusterCaller } from "./kube_call.ts";
import type { ClusterRegistry } from "./registry.ts";
import { groupVersionPath } from "./resource_paths.ts";

export type { DiscoveredResource } from "./discovery_documents.ts";

export interface DiscoveryOptions {
  access: ClusterAccess;
  clusters: Pick<ClusterRegistry, "connected">;
  log: Logger;
  now?: () => number;
  /** A lookup miss refetches discovery when the snapshot is at least this old (default 3 s). */
  missRefreshMs?: number;
  /** A snapshot older than this is refreshed in the background when used (default 60 s). */
  maxAgeMs?: number;
  /** Time limit of one discovery fetch (default 30 s). */
  fetchTimeoutMs?: number;
}

export interface GroupVersionResource {
  group: string;
  version: string;
  resource: string;
}

/** How many legacy group-version documents are fetched at once. */
const LEGACY_FETCH_CONCURRENCY = 8;

/** What one discovery fetch found. */
export class DiscoverySnapshot {
  readonly fetchedAt: number;
  readonly groupVersions: readonly GroupVersionResources[];
  /** Problems that may hide whole groups (a failed `/api` or `/apis`). */
  readonly rootErrors: readonly string[];
  readonly #byGroupVersion = new Map<string, GroupVersionResources>();

  constructor(groupVersions: GroupVersionResources[], rootErrors: string[], fetchedAt: number) {
    this.groupVersions = groupVersions;
    this.rootErrors = rootErrors;
    this.fetchedAt = fetchedAt;
    for (const entry of groupVersions) this.#byGroupVersion.set(key(entry.group, entry.version), entry);
  }

  /** Every resource and subresource, in the order the cluster listed them. */
  resources(): DiscoveredResource[] {
    return this.groupVersions.flatMap((entry) => entry.resources);
  }

  groupVersion(group: string, version: string): GroupVersionResources | undefined {
    return this.#byGroupVersion.get(key(group, version));
  }
}

interface ClusterEntry {
  snapshot?: DiscoverySnapshot;
  inflight?: Promise<DiscoverySnapshot>;
}

export class DiscoveryCache {
  readonly #options: Required<Omit<DiscoveryOptions, "access" | "clusters" | "log">>;
  readonly #access: ClusterAccess;
  readonly #clusters: Pick<ClusterRegistry, "connected">;
  readonly #log: Logger;
  /**
   * Keyed by the cluster's live tunnel: a reconnected agent brings a new tunnel and so an empty entry,
   * and the entry of a closed tunnel goes with it.
   */
  readonly #entries = new WeakMap<object, ClusterEntry>();

  constructor(options: DiscoveryOptions) {
    this.#access = options.access;
    this.#clusters = options.clusters;
    this.#log = options.log;
    this.#options = {
      now: options.now ?? Date.now,
      missRefreshMs: options.missRefreshMs ?? 3_000,
      maxAgeMs: options.maxAgeMs ?? 60_000,
      fetchTimeoutMs: options.fetchTimeoutMs ?? 30_000,
    };
  }

  /** The cluster's discovery, fetched as `identity` when there is none yet. */
  async snapshot(cluster: string, identity: Identity): Promise<DiscoverySnapshot> {
    const entry = this.#entry(cluster);
    if (!entry.snapshot) return await this.#refresh(entry, cluster, identity);
    if (this.#options.now() - entry.snapshot.fetchedAt >= this.#options.maxAgeMs) {
      this.#refresh(entry, cluster, identity).catch((error) =>
        this.#log.warn("background discovery refresh failed", { cluster, error })
      );
    }
    return entry.snapshot;
  }

  /**
   * The discovered resource for a request, or the request's error: a subresource name or an unknown
   * resource is invalid_argument, an unknown group/version not_found, a group-version whose discovery
   * failed unavailable.
   */
  async resolve(
    cluster: string,
    identity: Identity,
    target: GroupVersionResource,
  ): Promise<DiscoveredResource> {
    if (target.resource.includes("/")) {
      const parent = target.resource.slice(0, target.resource.indexOf("/"));
      throw new ConnectError(
        `resource: "${target.resource}" is a subresource; name the resource itself ("${parent}")`,
        Code.InvalidArgument,
      );
    }
    let snapshot = await this.snapshot(cluster, identity);
    let found = lookup(snapshot, target);
    if (
      found instanceof ConnectError && this.#options.now() - snapshot.fetchedAt >= this.#options.missRefreshMs
    ) {
      snapshot = await this.#refresh(this.#entry(cluster), cluster, identity);
      found = lookup(snapshot, target);
    }
    if (found instanceof ConnectError) throw withCluster(found, cluster);
    return found;
  }

  #entry(cluster: string): ClusterEntry {
    // Throws unavailable when the cluster is not connected: nothing to discover.
    const { tunnel } = this.#clusters.connected(cluster);
    let entry = this.#entries.get(tunnel);
    if (!entry) {
      entry = {};
      this.#entries.set(tunnel, entry);
    }
    return entry;
  }

  #refresh(entry: ClusterEntry, cluster: string, identity: Identity): Promise<DiscoverySnapshot> {
    entry.inflight ??= this.#fetch({ access: this.#access, cluster, identity })
      .then((snapshot) => {
        entry.snapshot = snapshot;
        return snapshot;
      })
      .finally(() => {
        entry.inflight = undefined;
      });
    return entry.inflight;
  }

  async #fetch(caller: ClusterCaller): Promise<DiscoverySnapshot> {
    const startedAt = this.#options.now();
    const get = (path: string, accept = "application/json") =>
      callJson(caller, { method: "GET", path, headers: { accept } }, {
        action: `discovery ${path} on cluster "${caller.cluster}"`,
        timeoutMs: this.#options.fetchTimeoutMs,
      });
    const roots = await Promise.allSettled(
      ["/api", "/apis"].map(async (path) =>
        parseDiscoveryRoot(await get(path, AGGREGATED_DISCOVERY_ACCEPT), path)
      ),
    );
    const failures = roots.filter((root) => root.status === "rejected").map((root) => root.reason);
    if (failures.length === roots.length) throw failures[0];

    const groupVersions: GroupVersionResources[] = [];
    const legacy: { group: string; version: string }[] = [];
    const rootErrors: string[] = [];
    roots.forEach((root, index) => {
      if (root.status === "rejected") {
        const message = errorText(root.reason);
        rootErrors.push(message);
        this.#log.warn("discovery root failed; continuing without it", {
          cluster: caller.cluster,
          path: index === 0 ? "/api" : "/apis",
          error: message,
        });
      } else if (root.value.kind === "aggregated") groupVersions.push(...root.value.groupVersions);
      else legacy.push(...root.value.groupVersions);
    });
    groupVersions.push(
      ...await mapConcurrently(legacy, LEGACY_FETCH_CONCURRENCY, async ({ group, version }) => {
        try {
          return {
            group,
            version,
            resources: parseResourceList(await get(groupVersionPath(group, version)), group, version),
          };
        } catch (error) {
          return { group, version, resources: [], error: errorText(error) };
        }
      }),
    );
    for (const failed of groupVersions.filter((entry) => entry.error)) {
      this.#log.warn("discovery of a group-version failed; skipping it", {
        cluster: caller.cluster,
        group_version: key(failed.group, failed.version),
        error: failed.error,
      });
    }
    this.#log.debug("discovery fetched", {
      cluster: caller.cluster,
      group_versions: groupVersions.length,
      aggregated: legacy.length === 0,
      ms: this.#options.now() - startedAt,
    });
    return new DiscoverySnapshot(groupVersions, rootErrors, this.#options.now());
  }
}

function lookup(
  snapshot: DiscoverySnapshot,
  target: GroupVersionResource,
): DiscoveredResource | ConnectError {
  const groupVersion = key(target.group, target.version);
  const entry = snapshot.groupVersion(target.group, target.version);
  if (!entry) {
    if (snapshot.rootErrors.length > 0) {
      return new ConnectError(
        `group/version "${groupVersion}" is unknown and discovery is incomplete: ${snapshot.rootErrors[0]}`,
        Code.Unavailable,
      );
    }
    return new ConnectError(`group/version "${groupVersion}" is not served`, Code.NotFound);
  }
  if (entry.error) {
    return new ConnectError(`discovery of "${groupVersion}" failed: ${entry.error}`, Code.Unavailable);
  }
  const found = entry.resources.find((resource) => resource.resource === target.resource);
  if (found) return found;
  const hint = entry.resources.find((resource) =>
    !resource.resource.includes("/") &&
    (resource.shortNames.includes(target.resource) ||
      resource.kind.toLowerCase() === target.resource.toLowerCase())
  );
  return new ConnectError(
    `resource: "${target.resource}" is not a resource of "${groupVersion}"` +
      (hint ? ` (did you mean "${hint.resource}"?)` : ""),
    Code.InvalidArgument,
  );
}

function errorText(error: unknown): string {
  if (error instanceof ConnectError) return error.rawMessage;
  return error instanceof Error ? error.message : String(error);
}

function withCluster(error: ConnectError, cluster: string): ConnectError {
  return new ConnectError(`${error.rawMessage} on cluster "${cluster}"`, error.code);
}

function key(group: string, version: string): string {
  return group === "" ? version : `${group}/${version}`;
}

async function mapConcurrently<T, R>(items: T[], limit: number, run: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await run(items[index]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
