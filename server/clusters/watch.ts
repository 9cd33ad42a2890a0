/**
 * A Kubernetes watch relayed as WatchEvents, for as long as the client stays: no time cap on our side (no
 * `timeoutSeconds`, no client timeout), bookmarks requested, the stream read line by line with
 * backpressure (the next chunk is taken only after the client took the previous event).
 *
 * Without a resource_version the watch asks for WatchList semantics (`sendInitialEvents=true`,
 * `resourceVersionMatch=NotOlderThan`): the current objects arrive as ADDED events, then a bookmark
 * annotated `k8s.io/initial-events-end`. A cluster (group-version) that refuses those parameters is
 * remembered per tunnel and watched the classic way, which also starts with the current objects but
 * without the closing bookmark. With a resource_version the watch resumes exactly after it.
 *
 * How it ends: the client cancels → the upstream request is aborted and the stream ends quietly. The
 * resource version is too old (410) → out_of_range "relist". The apiserver closes the watch (it does so
 * after its own timeout, 30–60 minutes by default) or the tunnel drops → unavailable, with the last
 * resource_version in the message: the client resumes from there and misses nothing.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { toConnectError } from "../../shared/errors.ts";
import type { Logger } from "../../shared/log.ts";
import { type ClusterCaller, send } from "./kube_call.ts";
import { ChunkReader, LineSplitter } from "./kube_json.ts";
import type { ClusterRegistry } from "./registry.ts";
import { resourcePath, type ResourceTarget, withQuery } from "./resource_paths.ts";
import { encodedWatchStep, type WatchEventInit, watchStep } from "./watch_events.ts";

/** One event may be a whole object; Kubernetes stores objects of up to ~1.5 MiB. */
export const MAX_WATCH_EVENT_BYTES = 16 * 1024 * 1024;

/** What a watch reads, and as whom. */
export interface WatchTarget {
  caller: ClusterCaller;
  target: ResourceTarget;
}

export interface WatchParams {
  /**
   * Validates the request and resolves what to watch; runs when the stream starts, and its errors reach
   * the client as they are. (A step inside the generator rather than one around it: every generator a
   * stream passes through costs each event several promise turns, and a hub may serve thousands.)
   */
  resolve: () => Promise<WatchTarget>;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  /** The client's signal: aborting it ends the watch. */
  signal: AbortSignal;
  watchList: WatchListSupport;
  log: Logger;
  /** The caller speaks binary protobuf: events may come pre-encoded (watch_events.ts). */
  binary?: boolean;
}

/** Remembers, per connected tunnel, the group-versions whose apiserver refused WatchList parameters. */
export class WatchListSupport {
  readonly #clusters: Pick<ClusterRegistry, "connected">;
  /** Keyed by the live tunnel, so that a reconnected (maybe upgraded) cluster is asked again. */
  readonly #refused = new WeakMap<object, Set<string>>();

  constructor(clusters: Pick<ClusterRegistry, "connected">) {
    this.#clusters = clusters;
  }

  usable(cluster: string, groupVersion: string): boolean {
    return !this.#groupVersions(cluster).has(groupVersion);
  }

  refuse(cluster: string, groupVersion: string): void {
    this.#groupVersions(cluster).add(groupVersion);
  }

  #groupVersions(cluster: string): Set<string> {
    const { tunnel } = this.#clusters.connected(cluster);
    let refused = this.#refused.get(tunnel);
    if (!refused) {
      refused = new Set();
      this.#refused.set(tunnel, refused);
    }
    return refused;
  }
}

export async function* watchResource(params: WatchParams): AsyncGenerator<WatchEventInit> {
  const watched = await params.resolve();
  const { caller, target } = watched;
  const what = `watch ${target.resource}${
    target.namespace ? ` in "${target.namespace}"` : ""
  } on cluster "${caller.cluster}"`;
  // Ours, so that ending the generator for any reason also ends the upstream request.
  const upstream = new AbortController();
  const abortUpstream = () => upstream.abort(params.signal.reason);
  params.signal.addEventListener("abort", abortUpstream, { once: true });
  let lastResourceVersion = params.resourceVersion ?? "";
  try {
    const response = await openWatch(params, watched, upstream.signal, what);
    const lines = new LineSplitter(MAX_WATCH_EVENT_BYTES);
    const reader = new ChunkReader(response);
    for (let chunk = await reader.next(); chunk; chunk = await reader.next()) {
      for (const line of lines.push(chunk)) {
        const step = params.binary ? encodedWatchStep(line) : watchStep(line);
        if (step.kind === "skip") {
          params.log.warn("watch: skipping event", {
            cluster: caller.cluster,
            resource: target.resource,
            reason: step.reason,
          });
          continue;
        }
        yield step.event;
        if (step.kind === "end") throw step.error;
        if (step.resourceVersion) lastResourceVersion = step.resourceVersion;
      }
    }
    const rest = lines.finish();
    if (rest) {
      params.log.warn("watch: the stream ended inside an event", {
        cluster: caller.cluster,
        bytes: rest.length,
      });
    }
    throw new ConnectError(
      `${what}: the watch ended upstream; resume from resource_version "${lastResourceVersion}"`,
      Code.Unavailable,
    );
  } catch (error) {
    // The client is gone: nobody to tell.
    if (params.signal.aborted) return;
    const mapped = toConnectError(error, { action: what });
    if (error instanceof ConnectError || mapped.code !== Code.Unavailable) throw mapped;
    throw new ConnectError(
      `${mapped.rawMessage}; resume from resource_version "${lastResourceVersion}"`,
      Code.Unavailable,
    );
  } finally {
    params.signal.removeEventListener("abort", abortUpstream);
    upstream.abort();
  }
}

async function openWatch(
  params: WatchParams,
  { caller, target }: WatchTarget,
  signal: AbortSignal,
  what: string,
) {
  const groupVersion = target.group === "" ? target.version : `${target.group}/${target.version}`;
  const resumeFrom = params.resourceVersion ?? "";
  const query = {
    watch: true,
    allowWatchBookmarks: true,
    labelSelector: params.labelSelector,
    fieldSelector: params.fieldSelector,
    resourceVersion: resumeFrom,
  };
  const open = (extra: Record<string, string | boolean>) =>
    send(caller, {
      method: "GET",
      path: withQuery(resourcePath({ ...target, name: undefined }), { ...query, ...extra }),
      headers: { accept: "application/json" },
      signal,
    }, what);

  if (resumeFrom !== "" || !params.watchList.usable(caller.cluster, groupVersion)) {
    return await open({});
  }
  try {
    return await open({ sendInitialEvents: true, resourceVersionMatch: "NotOlderThan" });
  } catch (error) {
    if (!refusedWatchList(error)) throw error;
    params.log.info("watch: WatchList refused; watching without initial-events bookmark", {
      cluster: caller.cluster,
      group_version: groupVersion,
      error: (error as ConnectError).rawMessage,
    });
    params.watchList.refuse(caller.cluster, groupVersion);
    return await open({});
  }
}

/** Older apiservers, or the WatchList feature gate off, reject these parameters as invalid. */
function refusedWatchList(error: unknown): boolean {
  return error instanceof ConnectError && error.code === Code.InvalidArgument &&
    /sendInitialEvents|resourceVersionMatch/.test(error.rawMessage);
}
