import assert from "node:assert/strict";
import type { JsonObject } from "@bufbuild/protobuf";
import { componentSchemas, findKindSchema, inlineSchema } from "./openapi_schema.ts";

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });

const document = {
  openapi: "3.0.0",
  components: {
    schemas: {
      "io.k8s.api.apps.v1.Deployment": {
        description: "Deployment enables declarative updates.",
        type: "object",
        properties: {
          kind: { type: "string" },
          metadata: {
            description: "Standard object's metadata.",
            default: {},
            allOf: [ref("meta.ObjectMeta")],
          },
          spec: { allOf: [ref("io.k8s.api.apps.v1.DeploymentSpec")], default: {} },
        },
        "x-kubernetes-group-version-kind": [{ group: "apps", kind: "Deployment", version: "v1" }],
      },
      "io.k8s.api.apps.v1.DeploymentSpec": {
        description: "DeploymentSpec is the specification.",
        type: "object",
        properties: {
          replicas: { type: "integer", format: "int32" },
          selector: ref("meta.LabelSelector"),
          template: { $ref: "#/components/schemas/io.k8s.api.core.v1.PodTemplateSpec", description: "site" },
        },
        required: ["selector"],
      },
      "io.k8s.api.core.v1.PodTemplateSpec": {
        description: "PodTemplateSpec describes pods.",
        type: "object",
        properties: { metadata: { allOf: [ref("meta.ObjectMeta")], default: {} } },
      },
      "meta.ObjectMeta": {
        description: "ObjectMeta is metadata.",
        type: "object",
        properties: {
          name: { type: "string" },
          labels: { type: "object", additionalProperties: { type: "string", default: "" } },
          ownerReferences: { type: "array", items: { default: {}, allOf: [ref("meta.OwnerReference")] } },
        },
      },
      "meta.OwnerReference": { type: "object", properties: { uid: { type: "string" } } },
      "meta.LabelSelector": {
        type: "object",
        properties: { matchLabels: { type: "object", additionalProperties: { type: "string" } } },
        "x-kubernetes-map-type": "atomic",
      },
      "io.k8s.api.core.v1.ConfigMap": {
        type: "object",
        "x-kubernetes-group-version-kind": [{ group: "", kind: "ConfigMap", version: "v1" }],
      },
    },
  },
};

const schemas = componentSchemas(document);

Deno.test("findKindSchema matches group, version and kind exactly (core group included)", () => {
  assert.equal(
    findKindSchema(schemas, { group: "apps", version: "v1", kind: "Deployment" }),
    "io.k8s.api.apps.v1.Deployment",
  );
  assert.equal(
    findKindSchema(schemas, { group: "", version: "v1", kind: "ConfigMap" }),
    "io.k8s.api.core.v1.ConfigMap",
  );
  assert.equal(findKindSchema(schemas, { group: "apps", version: "v2", kind: "Deployment" }), undefined);
  assert.equal(findKindSchema(schemas, { group: "", version: "v1", kind: "Deployment" }), undefined);
  assert.deepEqual(componentSchemas({}), {});
});

Deno.test("inlineSchema replaces $ref and allOf-wrapped refs; the site's keys win", () => {
  const schema = inlineSchema(schemas, "io.k8s.api.apps.v1.Deployment");
  const props = schema.properties as Record<string, JsonObject>;
  assert.equal(props.metadata.description, "Standard object's metadata.");
  assert.deepEqual(props.metadata.default, {});
  assert.equal(props.metadata.allOf, undefined);
  assert.equal(props.metadata.type, "object");
  const meta = props.metadata.properties as Record<string, JsonObject>;
  assert.deepEqual(meta.labels, { type: "object", additionalProperties: { type: "string", default: "" } });
  assert.deepEqual(meta.ownerReferences.items, {
    type: "object",
    properties: { uid: { type: "string" } },
    default: {},
  });

  const spec = props.spec;
  assert.equal(spec.description, "DeploymentSpec is the specification.");
  assert.deepEqual(spec.required, ["selector"]);
  const specProps = spec.properties as Record<string, JsonObject>;
  assert.deepEqual(specProps.selector["x-kubernetes-map-type"], "atomic");
  assert.equal(specProps.template.description, "site");
  assert.equal(
    ((specProps.template.properties as Record<string, JsonObject>).metadata as JsonObject).description,
    "ObjectMeta is metadata.",
  );
  // The extension that identified the kind is kept, as kube-openapi keeps extensions.
  assert.deepEqual(schema["x-kubernetes-group-version-kind"], [{
    group: "apps",
    kind: "Deployment",
    version: "v1",
  }]);
  assert.ok(!JSON.stringify(schema).includes("$ref"));
});

Deno.test("inlineSchema leaves the input document untouched", () => {
  const before = JSON.stringify(document);
  inlineSchema(schemas, "io.k8s.api.apps.v1.Deployment");
  assert.equal(JSON.stringify(document), before);
});

Deno.test("a cycle becomes {type: object} with the site's own keys, at the point it closes", () => {
  const cyclic = componentSchemas({
    components: {
      schemas: {
        Props: {
          type: "object",
          description: "JSONSchemaProps",
          properties: {
            not: { allOf: [ref("Props")], description: "not" },
            items: ref("PropsOrArray"),
            anyOf: { type: "array", items: { default: {}, allOf: [ref("Props")] } },
          },
        },
        PropsOrArray: { description: "either", properties: { schema: ref("Props") } },
      },
    },
  });
  const schema = inlineSchema(cyclic, "Props");
  const props = schema.properties as Record<string, JsonObject>;
  assert.deepEqual(props.not, { type: "object", description: "not" });
  assert.deepEqual(props.anyOf.items, { type: "object", default: {} });
  assert.deepEqual(props.items, { description: "either", properties: { schema: { type: "object" } } });
  // The same schema reached first by another route is expanded once more before its own cycle closes.
  const viaOther = inlineSchema(cyclic, "PropsOrArray");
  const inner = (viaOther.properties as Record<string, JsonObject>).schema;
  assert.equal(inner.description, "JSONSchemaProps");
  assert.deepEqual((inner.properties as Record<string, JsonObject>).items, { type: "object" });
});

Deno.test("anyOf, oneOf and list-form items are walked; non-schema values are not", () => {
  const mixed = componentSchemas({
    components: {
      schemas: {
        Root: {
          anyOf: [ref("A"), { type: "string" }],
          oneOf: [ref("A")],
          items: [ref("A")],
          default: { $ref: "not a schema, a default value" },
          enum: [{ $ref: "also a value" }],
        },
        A: { type: "integer" },
      },
    },
  });
  assert.deepEqual(inlineSchema(mixed, "Root"), {
    anyOf: [{ type: "integer" }, { type: "string" }],
    oneOf: [{ type: "integer" }],
    items: [{ type: "integer" }],
    default: { $ref: "not a schema, a default value" },
    enum: [{ $ref: "also a value" }],
  });
});

Deno.test("unresolvable and foreign references are errors", () => {
  const broken = componentSchemas({
    components: {
      schemas: { Root: { properties: { a: ref("Missing") } }, Foreign: { $ref: "other.json#/x" } },
    },
  });
  assert.throws(() => inlineSchema(broken, "Root"), /no schema "Missing"/);
  assert.throws(() => inlineSchema(broken, "Foreign"), /unsupported OpenAPI reference/);
  assert.throws(() => inlineSchema(broken, "Nope"), /no schema "Nope"/);
});

Deno.test("escaped reference names are decoded", () => {
  const escaped = componentSchemas({
    components: {
      schemas: { Root: { items: { $ref: "#/components/schemas/a~1b%20c" } }, "a/b c": { type: "boolean" } },
    },
  });
  assert.deepEqual(inlineSchema(escaped, "Root"), { items: { type: "boolean" } });
});
