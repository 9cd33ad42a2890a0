/**
 * The scale subresource (`…/<name>/scale`, an autoscaling/v1 Scale) of any resource that has one:
 * Deployments, ReplicaSets, StatefulSets, ReplicationControllers and custom resources that declare it.
 * Writing reads the Scale first and puts it back with the new replica count, so its resourceVersion makes
 * the update conditional: a change in between fails (Conflict) rather than being overwritten. The
 * workload's controller changes that version whenever it updates status, so a conflict is read again and
 * retried a few times (the request sets an absolute count, so a retry asks the same thing); a conflict
 * that persists is the caller's answer, mapped by the error table.
 */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeForKubeStatus } from "../../shared/errors.ts";
import { callJson, type ClusterCaller } from "./kube_call.ts";
import { asObject } from "./objects.ts";
import { resourcePath, type ResourceTarget, withQuery } from "./resource_paths.ts";

export interface ScaleTarget extends ResourceTarget {
  name: string;
}

export interface ScaleState {
  /** spec.replicas (absent in JSON when 0). */
  replicas: number;
  /** status.replicas. */
  currentReplicas: number;
  /** status.selector. */
  selector: string;
}

export function scalePath(target: ScaleTarget): string {
  return `${resourcePath(target)}/scale`;
}

export async function getScale(
  caller: ClusterCaller,
  target: ScaleTarget,
  signal?: AbortSignal,
): Promise<ScaleState> {
  return scaleState(await readScale(caller, target, signal));
}

/** Read-and-write attempts of setScale before a conflict is returned. */
export const SCALE_ATTEMPTS = 5;

const CONFLICT = codeForKubeStatus({ reason: "Conflict" });

/** Sets spec.replicas through the scale subresource; returns the state the apiserver stored. */
export async function setScale(
  caller: ClusterCaller,
  target: ScaleTarget,
  replicas: number,
  fieldManager: string,
  signal?: AbortSignal,
): Promise<ScaleState> {
  for (let attempt = 1;; attempt++) {
    try {
      return await writeScale(caller, target, replicas, fieldManager, signal);
    } catch (error) {
      if (!(error instanceof ConnectError) || error.code !== CONFLICT || attempt >= SCALE_ATTEMPTS) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 10 * attempt));
    }
  }
}

async function writeScale(
  caller: ClusterCaller,
  target: ScaleTarget,
  replicas: number,
  fieldManager: string,
  signal?: AbortSignal,
): Promise<ScaleState> {
  const scale = await readScale(caller, target, signal);
  scale.spec = { ...asObject(scale.spec), replicas };
  const action = `scale ${describe(target)} on cluster "${caller.cluster}" to ${replicas}`;
  const body = new TextEncoder().encode(JSON.stringify(scale));
  const answer = await callJson(caller, {
    method: "PUT",
    path: withQuery(scalePath(target), { fieldManager }),
    // A body without a length would go out chunked, which requests over a tunnel stream cannot do here.
    headers: {
      "content-type": "application/json",
      "content-length": String(body.length),
      accept: "application/json",
    },
    body,
    signal,
  }, { action, signal });
  return scaleState(answerObject(answer, action));
}

async function readScale(
  caller: ClusterCaller,
  target: ScaleTarget,
  signal?: AbortSignal,
): Promise<JsonObject> {
  const action = `read the scale of ${describe(target)} on cluster "${caller.cluster}"`;
  const answer = await callJson(caller, {
    method: "GET",
    path: scalePath(target),
    headers: { accept: "application/json" },
    signal,
  }, { action, signal });
  return answerObject(answer, action);
}

function scaleState(scale: JsonObject): ScaleState {
  const spec = asObject(scale.spec);
  const status = asObject(scale.status);
  return {
    replicas: integer(spec?.replicas),
    currentReplicas: integer(status?.replicas),
    selector: typeof status?.selector === "string" ? status.selector : "",
  };
}

function answerObject(answer: JsonValue, action: string): JsonObject {
  const object = asObject(answer);
  if (!object) {
    throw new ConnectError(`${action}: the cluster answered something other than a Scale`, Code.Internal);
  }
  return object;
}

function integer(value: JsonValue | undefined): number {
  return typeof value === "number" && Number.isInteger(value) ? value : 0;
}

function describe(target: ScaleTarget): string {
  const where = target.namespace ? `${target.namespace}/` : "";
  return `${target.resource} ${where}${target.name}`;
}
