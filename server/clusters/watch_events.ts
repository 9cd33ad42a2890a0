/**
 * One line of a Kubernetes watch stream (`{"type": "...", "object": {...}}`) as the WatchEvent the hub
 * sends: objects sanitised like every other RPC's, `resource_version` always set from the object (the
 * reference left it empty except on bookmarks), bookmarks passed with their object so the
 * `k8s.io/initial-events-end` annotation reaches the client, and an ERROR event turned into the error the
 * stream ends with (410 Gone: out_of_range, "relist").
 *
 * For callers that speak binary protobuf, `encodedWatchStep` makes the same event without building the
 * object: the line is transcoded straight into wire bytes (json_struct_wire.ts) that ride in the event's
 * `$unknown`, the way encoded_items.ts does for List. Lines it cannot take that way (ERROR events,
 * unknown types, malformed lines) go through `watchStep`.
 */
import { create, type JsonObject, type MessageInitShape } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import type { ConnectError } from "@connectrpc/connect";
import { isKubeStatus, type KubeStatus, kubeStatusError, relistError } from "../../shared/errors.ts";
import { WatchEvent_Type, WatchEventSchema } from "../../shared/gen/otterscale/resource/v1/resource_pb.ts";
import { JsonStructTranscoder, JsonSyntaxError } from "./json_struct_wire.ts";
import { parseJson } from "./kube_json.ts";
import { asObject, metadataString, sanitizeObject } from "./objects.ts";
import { WireBuffer } from "./wire_buffer.ts";

export type WatchEventInit = MessageInitShape<typeof WatchEventSchema>;

/** The annotation the apiserver puts on the bookmark that ends the initial events of a WatchList. */
export const INITIAL_EVENTS_END_ANNOTATION = "k8s.io/initial-events-end";

export type WatchStep =
  /** Send this event and go on; `resourceVersion` is the event's (its object's). */
  | { kind: "event"; event: WatchEventInit; resourceVersion: string }
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
  const resourceVersion = metadataString(object, "resourceVersion") ?? "";
  return {
    kind: "event",
    event: { type: eventType, resource: { object }, resourceVersion },
    resourceVersion,
  };
}

const RESOURCE_FIELD = WatchEventSchema.field.resource.number;
const RESOURCE_VERSION_FIELD = WatchEventSchema.field.resourceVersion.number;

/**
 * What to do with one line of the upstream watch stream, as `watchStep(line)` would say, with the event
 * already encoded. All watches share one scratch buffer: each line is encoded in one synchronous call.
 */
export function encodedWatchStep(line: Uint8Array): WatchStep {
  return sharedEncoder.step(line);
}

class WatchEventEncoder {
  readonly #buffer = new WireBuffer(16 * 1024);
  readonly #transcoder = new JsonStructTranscoder(this.#buffer);

  step(line: Uint8Array): WatchStep {
    this.#buffer.reset();
    let type: string | undefined;
    try {
      type = this.#transcoder.watchEvent(line);
    } catch (error) {
      if (error instanceof JsonSyntaxError) return watchStep(line);
      throw error;
    }
    const eventType = type === undefined ? undefined : TYPES[type];
    if (eventType === undefined || eventType === WatchEvent_Type.ERROR) return watchStep(line);
    const resourceVersion = this.#transcoder.resourceVersion ?? "";
    const resourceEnd = this.#buffer.position;
    // Always written, even empty: the field has explicit presence (edition 2023) and watchStep sets it.
    this.#buffer.string(resourceVersion);
    const bytes = this.#buffer.view().slice();
    const event = create(WatchEventSchema, { type: eventType });
    // Fields 2 and 3 in order after field 1: the bytes toBinary makes of the whole event.
    event.$unknown = [
      { no: RESOURCE_FIELD, wireType: WireType.LengthDelimited, data: bytes.subarray(0, resourceEnd) },
      { no: RESOURCE_VERSION_FIELD, wireType: WireType.LengthDelimited, data: bytes.subarray(resourceEnd) },
    ];
    return { kind: "event", event, resourceVersion };
  }
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

const sharedEncoder = new WatchEventEncoder();
