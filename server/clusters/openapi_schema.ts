/**
 * From an OpenAPI v3 document of one group-version to the self-contained JSON Schema of one kind: the
 * schema is found by its `x-kubernetes-group-version-kind` extension, and every `$ref` to
 * `#/components/schemas/...` is replaced by the schema it names, recursively.
 *
 * Kubernetes wraps most references as `{"allOf": [{"$ref": ...}], "description": ..., "default": ...}` to
 * keep a field's own description next to the referenced type; such a wrapper becomes the referenced
 * schema with the wrapper's other keys laid over it (the field's description wins).
 *
 * A reference back to a schema that is already being expanded on the current path (JSONSchemaProps in
 * CRD schemas, for instance) would never end: it becomes `{"type": "object"}` plus the referring site's
 * own keys. Clients lose the detail below that point but keep a finite, valid schema.
 */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { asObject } from "./objects.ts";

export interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

const REF_PREFIX = "#/components/schemas/";
/** Keys whose value is a map of name → schema. */
const SCHEMA_MAP_KEYS = ["properties", "patternProperties"];
/** Keys whose value is one schema (or, for items, possibly a list of schemas). */
const SCHEMA_KEYS = ["additionalProperties", "items", "not", "additionalItems"];
/** Keys whose value is a list of schemas. */
const SCHEMA_LIST_KEYS = ["allOf", "anyOf", "oneOf"];

/** `components.schemas` of an OpenAPI v3 document (empty when absent). */
export function componentSchemas(document: JsonValue): Record<string, JsonObject> {
  const schemas = asObject(asObject(asObject(document)?.components)?.schemas) ?? {};
  const result: Record<string, JsonObject> = {};
  for (const [name, schema] of Object.entries(schemas)) {
    const object = asObject(schema);
    if (object) result[name] = object;
  }
  return result;
}

/** The name of the schema tagged with exactly this group, version and kind, if any. */
export function findKindSchema(
  schemas: Record<string, JsonObject>,
  gvk: GroupVersionKind,
): string | undefined {
  for (const [name, schema] of Object.entries(schemas)) {
    const tags = schema["x-kubernetes-group-version-kind"];
    if (!Array.isArray(tags)) continue;
    const match = tags.some((tag) => {
      const entry = asObject(tag);
      return entry !== undefined && (entry.group ?? "") === gvk.group && entry.version === gvk.version &&
        entry.kind === gvk.kind;
    });
    if (match) return name;
  }
  return undefined;
}

/**
 * The schema `name` with every reference inlined. Throws when a reference points outside
 * `#/components/schemas/` or to a schema the document does not have.
 */
export function inlineSchema(schemas: Record<string, JsonObject>, name: string): JsonObject {
  const inliner = new RefInliner(schemas);
  return inliner.expand(name);
}

interface Frame {
  name: string;
  /** Lowest stack index a cycle cut inside this frame's expansion pointed at. */
  lowestCut: number;
}

class RefInliner {
  readonly #schemas: Record<string, JsonObject>;
  readonly #stack: Frame[] = [];
  /** Expansions that do not depend on the path they were reached by (no cut above their own frame). */
  readonly #done = new Map<string, JsonObject>();

  constructor(schemas: Record<string, JsonObject>) {
    this.#schemas = schemas;
  }

  expand(name: string): JsonObject {
    const cached = this.#done.get(name);
    if (cached) return cached;
    const schema = this.#schemas[name];
    if (!schema) throw new Error(`the OpenAPI document has no schema ${JSON.stringify(name)}`);
    const index = this.#stack.length;
    const frame: Frame = { name, lowestCut: index };
    this.#stack.push(frame);
    let result: JsonObject;
    try {
      result = this.#node(schema) as JsonObject;
    } finally {
      this.#stack.pop();
    }
    const parent = this.#stack[this.#stack.length - 1];
    if (parent) parent.lowestCut = Math.min(parent.lowestCut, frame.lowestCut);
    if (frame.lowestCut >= index) this.#done.set(name, result);
    return result;
  }

  #node(value: JsonValue): JsonValue {
    if (Array.isArray(value)) return value.map((item) => this.#node(item));
    const object = asObject(value);
    if (!object) return value;
    const reference = referenceOf(object);
    if (reference) return this.#reference(reference.name, reference.siblings);
    return this.#children(object);
  }

  #reference(name: string, siblings: JsonObject): JsonObject {
    const own = this.#children(siblings);
    const onStack = this.#stack.findIndex((frame) => frame.name === name);
    if (onStack !== -1) {
      const top = this.#stack[this.#stack.length - 1];
      top.lowestCut = Math.min(top.lowestCut, onStack);
      return { type: "object", ...own };
    }
    return { ...this.expand(name), ...own };
  }

  #children(object: JsonObject): JsonObject {
    const result: JsonObject = {};
    for (const [key, value] of Object.entries(object)) {
      if (SCHEMA_MAP_KEYS.includes(key) && asObject(value)) {
        const map: JsonObject = {};
        for (const [name, schema] of Object.entries(value as JsonObject)) map[name] = this.#node(schema);
        result[key] = map;
      } else if (SCHEMA_KEYS.includes(key) || SCHEMA_LIST_KEYS.includes(key)) {
        result[key] = this.#node(value);
      } else {
        result[key] = value;
      }
    }
    return result;
  }
}

/** `{"$ref": r, ...}` or `{"allOf": [{"$ref": r}], ...}`: the referenced name and the other keys. */
function referenceOf(object: JsonObject): { name: string; siblings: JsonObject } | undefined {
  if (typeof object.$ref === "string") {
    const { $ref, ...siblings } = object;
    return { name: refName($ref as string), siblings };
  }
  const allOf = object.allOf;
  if (Array.isArray(allOf) && allOf.length === 1) {
    const only = asObject(allOf[0]);
    if (only && typeof only.$ref === "string" && Object.keys(only).length === 1) {
      const { allOf: _wrapper, ...siblings } = object;
      return { name: refName(only.$ref), siblings };
    }
  }
  return undefined;
}

function refName(ref: string): string {
  if (!ref.startsWith(REF_PREFIX)) throw new Error(`unsupported OpenAPI reference ${JSON.stringify(ref)}`);
  // A JSON pointer segment, possibly percent-encoded: ~1 is "/", ~0 is "~".
  return decodeURIComponent(ref.slice(REF_PREFIX.length)).replaceAll("~1", "/").replaceAll("~0", "~");
}
