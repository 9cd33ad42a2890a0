/**
 * One line of a Kubernetes watch stream (`{"type": "...", "object": {...}}`) as the WatchEvent the hub
 * sends: objects sanitised like every other RPC's, `resource_version` always set from the object (the
 * reference left it empty except on bookmarks), bookmarks passed with their object so the
 * `k8s.io/initial-events-end` annotation reaches the client, and an ERROR event turned into the error the
 * stream ends with (410 Gone: out_of_range, "relist").
 */
import type { JsonObject, MessageInitShape } from "@bufbuild/protobuf";
import type { ConnectError } from "@connectrpc/connect";
import { isKubeStatus, type KubeStatus, kubeStatusError, relistError } from "../../shared/errors.ts";
import {
  WatchEvent_Type,
  type WatchEventSchema,
} from "../../shared/gen/otterscale/resource/v1/resource_pb.ts";
import { parseJson } from "./kube_json.ts";
import { asObject, metadataString, sanitizeObject } from "./objects.ts";

export type WatchEventInit = MessageInitShape<typeof WatchEventSchema>;

/** The annotation the apiserver puts on the bookmark that ends the initial events of a WatchList. */
export const INITIAL_EVENTS_END_ANNOTATION = "k8s.io/initial-events-end";

export type WatchStep =
  /** Send this event and go on. */
  | { kind: "event"; event: WatchEventInit }
  /** Send this event, then end the stream with `error`. */
  | { kind: "end"; event: WatchEventInit; error: ConnectError }
  /** Nothing to send (a malformed or unknown event); `reason` is for the log. */
  | { kind: "skip"; reason: string };

const TYPES: Record<string, WatchEvent_Type> = {
  ADDED: WatchEvent_Type.ADDED,
  MODIFIED: WatchEvent_Type.MODIFIED,
  DELETED: WatchEvent_Type.DELETED,
  BOOKMARK: WatchEvent_Type.BOOKMARK,
  ERROR: WatchEvent_Type.ERROR,
};

/** What to do with one line of the upstream watch stream. */
export function watchStep(line: Uint8Array): WatchStep {
  const parsed = asObject(parseJson(line, "watch event"));
  const type = typeof parsed?.type === "string" ? parsed.type : "";
  const object = asObject(parsed?.object);
  const eventType = TYPES[type];
  if (eventType === undefined) {
    return { kind: "skip", reason: `unknown watch event type ${JSON.stringify(type)}` };
  }
  if (!object) return { kind: "skip", reason: `${type} event without an object` };

  if (eventType === WatchEvent_Type.ERROR) {
    const event: WatchEventInit = { type: eventType, resource: { object } };
    return { kind: "end", event, error: errorOf(object) };
  }
  sanitizeObject(object);
  return {
    kind: "event",
    event: {
      type: eventType,
      resource: { object },
      resourceVersion: metadataString(object, "resourceVersion") ?? "",
    },
  };
}

function errorOf(object: JsonObject): ConnectError {
  if (!isKubeStatus(object)) {
    return kubeStatusError({ message: "the watch reported an error without a Status" });
  }
  const status: KubeStatus = object;
  if (status.code === 410 || status.reason === "Gone" || status.reason === "Expired") {
    return relistError(status.message);
  }
  return kubeStatusError(status);
}

/** True for the bookmark that ends a WatchList's initial events. */
export function isInitialEventsEnd(event: WatchEventInit): boolean {
  if (event.type !== WatchEvent_Type.BOOKMARK) return false;
  const annotations = asObject(asObject(event.resource?.object as JsonObject | undefined)?.metadata)
    ?.annotations;
  return asObject(annotations)?.[INITIAL_EVENTS_END_ANNOTATION] === "true";
}
