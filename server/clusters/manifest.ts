/**
 * Manifests sent to Create and Apply: one YAML or JSON document describing one object. They are decoded
 * here (YAML 1.2 core schema, so `yes` stays a string and dates stay strings) and sent to the apiserver
 * as JSON, so the object the hub validated is exactly the object the cluster receives.
 *
 * js-yaml rather than the `yaml` package used for config files: it is several times faster, and the
 * `yaml` parser reads the LOG_TOKENS and LOG_STREAM environment variables on every call, which the hub's
 * narrow `--allow-env` does not grant.
 */
import type { JsonObject } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { CORE_SCHEMA, loadAll, YAMLException } from "js-yaml";
import { asObject } from "./objects.ts";

/** Kubernetes itself refuses request bodies over 3 MiB; larger manifests would only fail later. */
export const MANIFEST_LIMIT_BYTES = 3 * 1024 * 1024;

/** More values than a 3 MiB manifest of real Kubernetes objects holds. */
const MAX_NODES = 1_000_000;

const decoder = new TextDecoder("utf-8", { fatal: true });

export interface Manifest {
  object: JsonObject;
  apiVersion: string;
  kind: string;
  /** metadata.name and metadata.namespace, when the manifest sets them. */
  name?: string;
  namespace?: string;
}

/**
 * Decodes one manifest. Errors are `invalid_argument` (with the parser's line and column) or, over the
 * size limit, `resource_exhausted`.
 */
export function decodeManifest(bytes: Uint8Array, field = "manifest"): Manifest {
  if (bytes.length > MANIFEST_LIMIT_BYTES) {
    throw new ConnectError(
      `${field}: ${bytes.length} bytes is over the limit of ${MANIFEST_LIMIT_BYTES} bytes (3 MiB)`,
      Code.ResourceExhausted,
    );
  }
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw invalid(field, "not valid UTF-8");
  }
  const object = parseSingleObject(text, field);
  const apiVersion = object.apiVersion;
  const kind = object.kind;
  if (typeof apiVersion !== "string" || apiVersion === "") throw invalid(field, "apiVersion is missing");
  if (typeof kind !== "string" || kind === "") throw invalid(field, "kind is missing");
  const metadata = asObject(object.metadata);
  if (object.metadata !== undefined && !metadata) throw invalid(field, "metadata must be a mapping");
  return {
    object,
    apiVersion,
    kind,
    name: stringOrUndefined(metadata?.name),
    namespace: stringOrUndefined(metadata?.namespace),
  };
}

function parseSingleObject(text: string, field: string): JsonObject {
  // JSON is the common case from programs; JSON.parse is exact and fast. Anything else (and JSON with
  // errors, for which the YAML parser reports a line and column) goes through YAML.
  if (/^\s*\{/.test(text)) {
    try {
      const parsed = JSON.parse(text);
      const object = asObject(parsed);
      if (object) return object;
    } catch {
      // Fall through to the YAML parser for a positioned error message.
    }
  }
  let documents: unknown[];
  try {
    documents = loadAll(text, undefined, { schema: CORE_SCHEMA });
  } catch (error) {
    if (!(error instanceof YAMLException)) throw error;
    const where = error.mark ? ` at line ${error.mark.line + 1}, column ${error.mark.column + 1}` : "";
    throw invalid(field, `invalid YAML: ${error.reason}${where}`);
  }
  // Empty documents (a trailing `---`, only comments) are skipped, as kubectl does.
  const nonEmpty = documents.filter((value) => value !== null && value !== undefined);
  if (nonEmpty.length === 0) throw invalid(field, "it is empty");
  if (nonEmpty.length > 1) {
    throw invalid(field, `it has ${nonEmpty.length} documents; send one object per call`);
  }
  const object = asObject(nonEmpty[0] as JsonObject);
  if (!object) throw invalid(field, "it must be a mapping (one Kubernetes object)");
  return toJsonObject(object, field);
}

/**
 * Values of YAML's core schema that JSON cannot carry (non-finite numbers) are refused rather than
 * guessed at. Aliases are shared references, so a small document can stand for an enormous object
 * ("billion laughs"): the walk counts every node it visits and gives up past MAX_NODES.
 */
function toJsonObject(value: JsonObject, field: string): JsonObject {
  let visited = 0;
  const check = (node: unknown, path: string): void => {
    if (++visited > MAX_NODES) throw invalid(field, `it expands to more than ${MAX_NODES} values (aliases?)`);
    if (node === null || typeof node === "string" || typeof node === "boolean") return;
    if (typeof node === "number") {
      if (!Number.isFinite(node)) throw invalid(field, `${path} is not a finite number`);
      return;
    }
    if (Array.isArray(node)) {
      node.forEach((item, index) => check(item, `${path}[${index}]`));
      return;
    }
    if (typeof node === "object" && Object.getPrototypeOf(node) === Object.prototype) {
      for (const [key, item] of Object.entries(node)) check(item, path === "" ? key : `${path}.${key}`);
      return;
    }
    throw invalid(field, `${path || "the document"} holds a value JSON cannot carry`);
  };
  check(value, "");
  return value;
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === "string" && value !== "" ? value : undefined;
}

function invalid(field: string, problem: string): ConnectError {
  return new ConnectError(`invalid ${field}: ${problem}`, Code.InvalidArgument);
}
