/**
 * ResourceService: generic reads and writes of Kubernetes resources, as the caller. Each handler
 * validates the request, resolves the resource against the cluster's cached discovery, makes its call
 * through ClusterAccess (which impersonates the caller; the caller's token never leaves the hub) and
 * shapes the reply. Every object returned is sanitised the same way (objects.ts).
 *
 * Discovery answers from the per-cluster cache (clusters/discovery.ts), Schema from the OpenAPI cache
 * (clusters/schema.ts), Watch streams through clusters/watch.ts; their files say how those behave.
 *
 * Choices this file makes:
 * - A namespace given for a cluster-scoped resource is invalid_argument (silently ignoring it would
 *   answer a different question than the one asked). Get, Describe, Apply and Delete of a namespaced
 *   resource need a namespace; List and Watch without one span all namespaces.
 * - Create takes its namespace from the request, else from the manifest's metadata.namespace; Apply also
 *   takes its name that way. A request value that disagrees with the manifest is the apiserver's to
 *   refuse.
 * - Create and Apply record the field manager `otterscale` unless Apply names another.
 * - Delete propagates in the background (dependents are deleted by the garbage collector after the
 *   owner is gone), and sends gracePeriodSeconds only when the request set it.
 * - For callers speaking binary protobuf, List items and watch events are transcoded from the
 *   apiserver's JSON straight into wire bytes as they arrive (encoded_items.ts, watch_events.ts); JSON
 *   callers get parsed objects. The bytes on the wire are the same either way.
 */
import type { ConnectRouter } from "@connectrpc/connect";
import { Code, ConnectError } from "@connectrpc/connect";
import { create, fromJson, isFieldSet, type JsonObject } from "@bufbuild/protobuf";
import { StructSchema } from "@bufbuild/protobuf/wkt";
import { invalidArgument, scrubAddresses } from "../../shared/errors.ts";
import type { Logger } from "../../shared/log.ts";
import {
  DeleteRequestSchema,
  ListResponseSchema,
  ResourceService,
} from "../../shared/gen/otterscale/resource/v1/resource_pb.ts";
import type { Identity } from "../auth/identity.ts";
import type { DiscoveredResource, DiscoveryCache } from "../clusters/discovery.ts";
import { EncodedItems, encodedResource, speaksBinary } from "../clusters/encoded_items.ts";
import type { ClusterAccess, KubeRequest } from "../clusters/kube.ts";
import { call, callJson, type ClusterCaller, JSON_BODY_LIMIT } from "../clusters/kube_call.ts";
import { assertComplete, readBody, readChunks, tooLarge } from "../clusters/kube_json.ts";
import { ListBodyScanner, parseItem } from "../clusters/list_body.ts";
import { decodeManifest } from "../clusters/manifest.ts";
import { asObject, type KubeObject, metadataString, sanitizeObject } from "../clusters/objects.ts";
import type { ClusterRegistry } from "../clusters/registry.ts";
import { resourcePath, type ResourceTarget, withQuery } from "../clusters/resource_paths.ts";
import { SchemaCache } from "../clusters/schema.ts";
import { WatchListSupport, watchResource } from "../clusters/watch.ts";
import { requireIdentity } from "../http/context.ts";

export interface ResourceDeps {
  access: ClusterAccess;
  clusters: ClusterRegistry;
  /** The hub's one discovery cache, shared with RuntimeService. */
  discovery: DiscoveryCache;
  log: Logger;
}

/** The field manager recorded by Create, and by Apply when the request names none. */
export const DEFAULT_FIELD_MANAGER = "otterscale";

/**
 * A List answer above this is refused with resource_exhausted: the hub holds the encoded items (or, for
 * JSON callers, the parsed ones) and then the serialised reply. Clients page with limit and continue.
 */
export const LIST_BODY_LIMIT = 256 * 1024 * 1024;

/** Events Describe returns at most (kubectl describe reads a page of 500 too). */
export const DESCRIBE_EVENTS_LIMIT = 500;

interface ResourceRequest {
  cluster: string;
  group: string;
  version: string;
  resource: string;
  namespace: string;
}

/** What a handler works with once the request is validated. */
interface Resolved {
  caller: ClusterCaller;
  resource: DiscoveredResource;
  target: ResourceTarget;
}

export function registerResourceService(router: ConnectRouter, deps: ResourceDeps): void {
  const discovery = deps.discovery;
  const schemas = new SchemaCache({ access: deps.access, clusters: deps.clusters, log: deps.log });
  const watchList = new WatchListSupport(deps.clusters);

  /** Validates the common fields, resolves the resource and applies the namespace rules. */
  const resolve = async (
    req: ResourceRequest,
    identity: Identity,
    namespaceRule: "optional" | "required",
    namespace = req.namespace,
  ): Promise<Resolved> => {
    requireFields(req, ["cluster", "version", "resource"]);
    const caller = { access: deps.access, cluster: req.cluster, identity };
    const resource = await discovery.resolve(req.cluster, identity, req);
    // Fields by name, not by spreading: protobuf-es keeps unset fields' defaults on the prototype.
    const target = {
      group: req.group,
      version: req.version,
      resource: req.resource,
      namespace: scopedNamespace(resource, namespace, namespaceRule),
    };
    return { caller, resource, target };
  };

  router.service(ResourceService, {
    discovery: (req, ctx) =>
      guard(deps.log, async () => {
        requireFields(req, ["cluster"]);
        const snapshot = await discovery.snapshot(req.cluster, requireIdentity(ctx));
        return { apiResources: snapshot.resources() };
      }),

    schema: (req, ctx) =>
      guard(deps.log, async () => {
        requireFields(req, ["cluster", "version", "kind"]);
        const schema = await schemas.schema(req.cluster, requireIdentity(ctx), req, ctx.signal);
        return fromJson(StructSchema, schema);
      }),

    list: (req, ctx) =>
      guard(deps.log, async () => {
        if (req.limit < 0n) throw invalidArgument("limit: must not be negative");
        const { caller, target } = await resolve(req, requireIdentity(ctx), "optional");
        const path = withQuery(resourcePath(target), {
          labelSelector: req.labelSelector,
          fieldSelector: req.fieldSelector,
          limit: req.limit > 0n ? req.limit.toString() : undefined,
          continue: req.continue,
        });
        const action = describeAction("list", target, caller.cluster);
        const request = { method: "GET" as const, path, headers: { accept: "application/json" } };
        const binary = speaksBinary(ctx.requestHeader.get("content-type"));
        return await call(caller, request, { action, signal: ctx.signal }, async (response) => {
          // Binary callers get each item encoded as it arrives (its parsed object is dropped at once);
          // JSON callers get the objects, serialised by the framework at the end.
          const encoded = binary ? new EncodedItems() : undefined;
          const objects: { object: KubeObject }[] = [];
          const scanner = encoded
            ? new ListBodyScanner(
              (json, index) => encoded.add(json, index),
              (bytes, start) => encoded.consume(bytes, start),
            )
            : new ListBodyScanner((json, index) =>
              objects.push({ object: sanitizeObject(parseItem(json, index)) })
            );
          let size = 0;
          await readChunks(response, (chunk) => {
            size += chunk.length;
            if (size > LIST_BODY_LIMIT) {
              throw tooLarge(`${action} (page with limit and continue)`, LIST_BODY_LIMIT);
            }
            scanner.push(chunk);
          });
          assertComplete(response, action);
          const metadata = asObject(scanner.finish().metadata);
          const remaining = metadata?.remainingItemCount;
          const reply = create(ListResponseSchema, {
            resourceVersion: stringField(metadata?.resourceVersion),
            continue: stringField(metadata?.continue),
            remainingItemCount: typeof remaining === "number" ? BigInt(Math.trunc(remaining)) : 0n,
            items: objects,
          });
          if (encoded) reply.$unknown = encoded.unknownFields();
          return reply;
        });
      }),

    get: (req, ctx) =>
      guard(deps.log, async () => {
        requireFields(req, ["name"]);
        const { caller, target } = await resolve(req, requireIdentity(ctx), "required");
        const named = { ...target, name: req.name };
        if (!speaksBinary(ctx.requestHeader.get("content-type"))) {
          return { object: sanitizeObject(await getObject(caller, named, ctx.signal)) };
        }
        // Binary callers get the apiserver's JSON text transcoded into wire bytes, never parsed.
        const action = describeAction("get", named, caller.cluster);
        const json = await call(
          caller,
          getRequest(named),
          { action, signal: ctx.signal },
          (response) => readBody(response, JSON_BODY_LIMIT, action),
        );
        return encodedResource(json, action);
      }),

    describe: (req, ctx) =>
      guard(deps.log, async () => {
        requireFields(req, ["name"]);
        const { caller, target } = await resolve(req, requireIdentity(ctx), "required");
        const object = sanitizeObject(await getObject(caller, { ...target, name: req.name }, ctx.signal));
        const events = await objectEvents(caller, object, ctx.signal, deps.log);
        return { resource: { object }, events: events.map((event) => ({ object: event })) };
      }),

    create: (req, ctx) =>
      guard(deps.log, async () => {
        requireFields(req, ["cluster", "version", "resource"]);
        const manifest = decodeManifest(req.manifest);
        const { caller, target } = await resolve(
          req,
          requireIdentity(ctx),
          "required",
          req.namespace || (manifest.namespace ?? ""),
        );
        const object = await sendObject(caller, {
          method: "POST",
          path: withQuery(resourcePath(target), { fieldManager: DEFAULT_FIELD_MANAGER }),
          contentType: "application/json",
          body: manifest.object,
          action: describeAction("create", target, caller.cluster),
          signal: ctx.signal,
        });
        return { object: sanitizeObject(object) };
      }),

    apply: (req, ctx) =>
      guard(deps.log, async () => {
        requireFields(req, ["cluster", "version", "resource"]);
        const manifest = decodeManifest(req.manifest);
        const name = req.name || manifest.name;
        if (!name) throw invalidArgument("name: required (in the request or the manifest's metadata.name)");
        const { caller, target } = await resolve(
          req,
          requireIdentity(ctx),
          "required",
          req.namespace || (manifest.namespace ?? ""),
        );
        const object = await sendObject(caller, {
          method: "PATCH",
          path: withQuery(resourcePath({ ...target, name }), {
            fieldManager: req.fieldManager || DEFAULT_FIELD_MANAGER,
            force: req.force,
          }),
          // JSON is YAML: the object the hub decoded is exactly what the apiserver applies.
          contentType: "application/apply-patch+yaml",
          body: manifest.object,
          action: describeAction("apply", { ...target, name }, caller.cluster),
          signal: ctx.signal,
        });
        return { object: sanitizeObject(object) };
      }),

    delete: (req, ctx) =>
      guard(deps.log, async () => {
        requireFields(req, ["name"]);
        const { caller, target } = await resolve(req, requireIdentity(ctx), "required");
        const options: JsonObject = {
          kind: "DeleteOptions",
          apiVersion: "v1",
          propagationPolicy: "Background",
        };
        if (isFieldSet(req, DeleteRequestSchema.field.gracePeriodSeconds)) {
          options.gracePeriodSeconds = Number(req.gracePeriodSeconds);
        }
        await sendObject(caller, {
          method: "DELETE",
          path: resourcePath({ ...target, name: req.name }),
          contentType: "application/json",
          body: options,
          action: describeAction("delete", { ...target, name: req.name }, caller.cluster),
          signal: ctx.signal,
        });
        return {};
      }),

    watch: (req, ctx) =>
      // watchResource maps its own errors; the relist and resume rules live there.
      watchResource({
        resolve: () => guard(deps.log, () => resolve(req, requireIdentity(ctx), "optional")),
        labelSelector: req.labelSelector,
        fieldSelector: req.fieldSelector,
        resourceVersion: req.resourceVersion,
        signal: ctx.signal,
        watchList,
        log: deps.log,
        binary: speaksBinary(ctx.requestHeader.get("content-type")),
      }),
  });
}

/** Runs a unary handler body; whatever escapes it is a ConnectError without internal addresses. */
async function guard<T>(log: Logger, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (error) {
    throw handlerError(error, log);
  }
}

function handlerError(error: unknown, log: Logger): ConnectError {
  if (error instanceof ConnectError) {
    const message = scrubAddresses(error.rawMessage);
    return message === error.rawMessage ? error : new ConnectError(message, error.code);
  }
  // Transport failures are mapped where they happen; anything else is a bug here.
  log.error("resource handler failed", { error });
  return new ConnectError(
    scrubAddresses(`internal error: ${(error as Error)?.message ?? error}`),
    Code.Internal,
  );
}

function requireFields<T extends object>(req: T, fields: (keyof T & string)[]): void {
  const missing = fields.filter((field) => (req as Record<string, unknown>)[field] === "");
  if (missing.length > 0) throw invalidArgument(`missing required field(s): ${missing.join(", ")}`);
}

function scopedNamespace(
  resource: DiscoveredResource,
  namespace: string,
  rule: "optional" | "required",
): string | undefined {
  if (!resource.namespaced) {
    if (namespace !== "") {
      throw invalidArgument(`namespace: "${resource.resource}" is cluster-scoped; leave namespace empty`);
    }
    return undefined;
  }
  if (namespace === "" && rule === "required") {
    throw invalidArgument(`namespace: required, "${resource.resource}" is namespaced`);
  }
  return namespace || undefined;
}

function describeAction(verb: string, target: ResourceTarget, cluster: string): string {
  const what = target.name ? `${target.resource} "${target.name}"` : target.resource;
  const where = target.namespace ? ` in namespace "${target.namespace}"` : "";
  return `${verb} ${what}${where} on cluster "${cluster}"`;
}

async function getObject(
  caller: ClusterCaller,
  target: ResourceTarget,
  signal: AbortSignal,
): Promise<KubeObject> {
  const action = describeAction("get", target, caller.cluster);
  return expectObject(await callJson(caller, getRequest(target), { action, signal }), action);
}

function getRequest(target: ResourceTarget): KubeRequest {
  return { method: "GET", path: resourcePath(target), headers: { accept: "application/json" } };
}

interface ObjectRequest {
  method: "POST" | "PATCH" | "DELETE";
  path: string;
  contentType: string;
  body: JsonObject;
  action: string;
  signal: AbortSignal;
}

const encoder = new TextEncoder();

async function sendObject(caller: ClusterCaller, request: ObjectRequest): Promise<KubeObject> {
  const body = encoder.encode(JSON.stringify(request.body));
  const answer = await callJson(caller, {
    method: request.method,
    path: request.path,
    headers: {
      accept: "application/json",
      "content-type": request.contentType,
      "content-length": String(body.length),
    },
    body,
  }, { action: request.action, signal: request.signal });
  return expectObject(answer, request.action);
}

/**
 * core/v1 Events about `object` (by involvedObject.uid, in the object's namespace; all namespaces for a
 * cluster-scoped object). Describe still answers when they cannot be read (RBAC, say): without events.
 */
async function objectEvents(
  caller: ClusterCaller,
  object: KubeObject,
  signal: AbortSignal,
  log: Logger,
): Promise<KubeObject[]> {
  const uid = metadataString(object, "uid");
  if (!uid) return [];
  const namespace = metadataString(object, "namespace");
  const target = { group: "", version: "v1", resource: "events", namespace };
  try {
    const list = await callJson(caller, {
      method: "GET",
      path: withQuery(resourcePath(target), {
        fieldSelector: `involvedObject.uid=${uid}`,
        limit: DESCRIBE_EVENTS_LIMIT,
      }),
      headers: { accept: "application/json" },
    }, { action: describeAction("list", target, caller.cluster), signal });
    const items = asObject(list)?.items;
    if (!Array.isArray(items)) return [];
    return items.map((item) => asObject(item)).filter((item): item is KubeObject => item !== undefined)
      .map(sanitizeObject);
  } catch (error) {
    if (signal.aborted) throw error;
    log.warn("describe: cannot read events; answering without them", {
      cluster: caller.cluster,
      user: caller.identity.user,
      uid,
      error: error instanceof ConnectError ? error.rawMessage : error,
    });
    return [];
  }
}

function expectObject(value: unknown, action: string): KubeObject {
  const object = asObject(value as JsonObject);
  if (!object) {
    throw new ConnectError(`${action}: the cluster answered something other than an object`, Code.Internal);
  }
  return object;
}

function stringField(value: unknown): string {
  return typeof value === "string" ? value : "";
}
