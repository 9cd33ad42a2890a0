/**
 * Kind schemas from a cluster's OpenAPI v3, with references inlined (openapi_schema.ts).
 *
 * Every call reads the small OpenAPI index (`/openapi/v3`) as the caller: the cluster decides whether
 * this caller may read OpenAPI at all (the reference shared one caller's fetch with everyone, B25), and
 * the index names each group-version document by a content hash. The large documents are then cached
 * per cluster and group-version for `ttlMs` (10 minutes) — a changed hash (a CRD was updated) or a
 * reconnected agent means a new fetch. Concurrent misses for one document share one fetch, which runs
 * detached from the first caller's cancellation under its own time limit.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "../../shared/log.ts";
import type { Identity } from "../auth/identity.ts";
import type { ClusterAccess } from "./kube.ts";
import { callJson, type ClusterCaller } from "./kube_call.ts";
import { asObject } from "./objects.ts";
import { componentSchemas, findKindSchema, type GroupVersionKind, inlineSchema } from "./openapi_schema.ts";
import type { ClusterRegistry } from "./registry.ts";

export interface SchemaCacheOptions {
  access: ClusterAccess;
  clusters: Pick<ClusterRegistry, "connected">;
  log: Logger;
  now?: () => number;
  /** How long a fetched group-version document is used (default 10 minutes). */
  ttlMs?: number;
  /** Documents kept at most; the oldest goes first (default 256). */
  maxEntries?: number;
  /** Time limit of one document fetch (default 30 s). */
  fetchTimeoutMs?: number;
}

interface DocumentEntry {
  tunnel: object;
  /** The index's URL for the document, hash included: another URL means other content. */
  url: string;
  fetchedAt: number;
  schemas: Promise<Record<string, JsonObject>>;
  /** Inlined kind schemas, computed on first use. */
  kinds: Map<string, JsonObject>;
}

export class SchemaCache {
  readonly #access: ClusterAccess;
  readonly #clusters: Pick<ClusterRegistry, "connected">;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #fetchTimeoutMs: number;
  readonly #documents = new Map<string, DocumentEntry>();

  constructor(options: SchemaCacheOptions) {
    this.#access = options.access;
    this.#clusters = options.clusters;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#ttlMs = options.ttlMs ?? 10 * 60_000;
    this.#maxEntries = options.maxEntries ?? 256;
    this.#fetchTimeoutMs = options.fetchTimeoutMs ?? 30_000;
  }

  /** Number of cached group-version documents (for tests and metrics). */
  get size(): number {
    return this.#documents.size;
  }

  /** The self-contained JSON Schema of `gvk`; not_found when the cluster does not describe it. */
  async schema(
    cluster: string,
    identity: Identity,
    gvk: GroupVersionKind,
    signal?: AbortSignal,
  ): Promise<JsonObject> {
    const caller: ClusterCaller = { access: this.#access, cluster, identity };
    const path = gvk.group === "" ? `api/${gvk.version}` : `apis/${gvk.group}/${gvk.version}`;
    const groupVersion = gvk.group === "" ? gvk.version : `${gvk.group}/${gvk.version}`;
    const index = await callJson(caller, { method: "GET", path: "/openapi/v3" }, {
      action: `read the OpenAPI index of cluster "${cluster}"`,
      signal,
    });
    const url = asObject(asObject(asObject(index)?.paths)?.[path])?.serverRelativeURL;
    if (typeof url !== "string" || !url.startsWith("/")) {
      throw new ConnectError(
        `cluster "${cluster}" publishes no OpenAPI schema for group/version "${groupVersion}"`,
        Code.NotFound,
      );
    }
    const entry = this.#document(caller, path, url);
    const schemas = await entry.schemas;
    let schema = entry.kinds.get(gvk.kind);
    if (!schema) {
      const name = findKindSchema(schemas, gvk);
      if (!name) {
        throw new ConnectError(
          `cluster "${cluster}" has no schema for kind "${gvk.kind}" in "${groupVersion}"`,
          Code.NotFound,
        );
      }
      try {
        schema = inlineSchema(schemas, name);
      } catch (error) {
        throw new ConnectError(
          `the OpenAPI schema of "${gvk.kind}" in "${groupVersion}" on cluster "${cluster}" is inconsistent: ${
            (error as Error).message
          }`,
          Code.Internal,
        );
      }
      entry.kinds.set(gvk.kind, schema);
    }
    return schema;
  }

  #document(caller: ClusterCaller, path: string, url: string): DocumentEntry {
    const { tunnel } = this.#clusters.connected(caller.cluster);
    const key = `${caller.cluster}\n${path}`;
    const now = this.#now();
    const cached = this.#documents.get(key);
    if (cached && cached.tunnel === tunnel && cached.url === url && now - cached.fetchedAt < this.#ttlMs) {
      return cached;
    }

    const entry: DocumentEntry = {
      tunnel,
      url,
      fetchedAt: now,
      kinds: new Map(),
      schemas: callJson(caller, { method: "GET", path: url }, {
        action: `read the OpenAPI document ${path} of cluster "${caller.cluster}"`,
        timeoutMs: this.#fetchTimeoutMs,
      }).then(componentSchemas),
    };
    // Failures are not cached: the next call fetches again.
    entry.schemas.catch(() => {
      if (this.#documents.get(key) === entry) this.#documents.delete(key);
    });
    this.#documents.delete(key);
    this.#documents.set(key, entry);
    this.#evict(now);
    return entry;
  }

  /** Drops expired documents, then the oldest while over the limit (Map order is insertion order). */
  #evict(now: number): void {
    for (const [key, entry] of this.#documents) {
      if (now - entry.fetchedAt >= this.#ttlMs) this.#documents.delete(key);
    }
    for (const key of this.#documents.keys()) {
      if (this.#documents.size <= this.#maxEntries) break;
      this.#documents.delete(key);
      this.#log.debug("schema cache full; dropped the oldest document", { key });
    }
  }
}
