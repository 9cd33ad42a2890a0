/**
 * A container's log as a stream of chunks, read from the apiserver as it arrives (never held whole). With
 * `follow` it has no time limit: it ends when the apiserver ends it (the container stopped, the log
 * rotated away) or the caller goes away, which aborts the upstream request.
 */
import { toConnectError } from "../../shared/errors.ts";
import { type ClusterCaller, send } from "./kube_call.ts";
import { assertComplete } from "./kube_json.ts";
import { segment, withQuery } from "./resource_paths.ts";

/** The most bytes one streamed message carries. */
export const LOG_CHUNK_BYTES = 32 * 1024;

/** How long the apiserver may take to start answering (it then streams for as long as it likes). */
export const LOG_HEAD_TIMEOUT_MS = 60_000;

export interface PodLogOptions {
  namespace: string;
  pod: string;
  container: string;
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  /** Each of these is sent only when set; 0 is a value like any other. */
  tailLines?: bigint;
  sinceSeconds?: bigint;
  sinceTime?: Date;
  limitBytes?: bigint;
}

/** `/api/v1/namespaces/<ns>/pods/<pod>/log` with the options that are set. */
export function podLogPath(options: PodLogOptions): string {
  const path = `/api/v1/namespaces/${segment("namespace", options.namespace)}/pods/${
    segment("name", options.pod)
  }/log`;
  return withQuery(path, {
    container: options.container,
    follow: options.follow,
    previous: options.previous,
    timestamps: options.timestamps,
    tailLines: options.tailLines?.toString(),
    sinceSeconds: options.sinceSeconds?.toString(),
    sinceTime: options.sinceTime ? rfc3339(options.sinceTime) : undefined,
    limitBytes: options.limitBytes?.toString(),
  });
}

/** Streams the log in chunks of at most LOG_CHUNK_BYTES; every failure is a ConnectError. */
export async function* streamPodLog(
  caller: ClusterCaller,
  options: PodLogOptions,
  signal: AbortSignal,
): AsyncGenerator<Uint8Array> {
  const action = `read the log of pod ${options.namespace}/${options.pod} on cluster "${caller.cluster}"`;
  const path = podLogPath(options);
  const upstream = new AbortController();
  const forward = () => upstream.abort(signal.reason);
  signal.addEventListener("abort", forward, { once: true });
  const headTimer = setTimeout(
    () => upstream.abort(new DOMException(`no answer within ${LOG_HEAD_TIMEOUT_MS} ms`, "TimeoutError")),
    LOG_HEAD_TIMEOUT_MS,
  );
  try {
    const response = await send(caller, { method: "GET", path, signal: upstream.signal }, action);
    clearTimeout(headTimer);
    try {
      for await (const chunk of response as AsyncIterable<Uint8Array>) {
        for (let offset = 0; offset < chunk.length; offset += LOG_CHUNK_BYTES) {
          yield chunk.subarray(offset, offset + LOG_CHUNK_BYTES);
        }
      }
      assertComplete(response, action);
    } finally {
      response.destroy();
    }
  } catch (error) {
    throw toConnectError(error, { action, signal: upstream.signal });
  } finally {
    clearTimeout(headTimer);
    signal.removeEventListener("abort", forward);
  }
}

/** RFC 3339 in UTC, with fractions of a second only when there are any. */
function rfc3339(date: Date): string {
  return date.toISOString().replace(".000Z", "Z");
}
