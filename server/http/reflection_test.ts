import assert from "node:assert/strict";
import { fromBinary, getExtension, hasExtension, type MessageInitShape } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { type Client, createClient, createRouterTransport } from "@connectrpc/connect";
import { file_grpc_health_v1_health } from "../../shared/gen/grpc/health/v1/health_pb.ts";
import * as v1 from "../../shared/gen/grpc/reflection/v1/reflection_pb.ts";
import * as v1alpha from "../../shared/gen/grpc/reflection/v1alpha/reflection_pb.ts";
import { feature } from "../../shared/gen/otterscale/api/annotations_pb.ts";
import { file_otterscale_fleet_v1_fleet } from "../../shared/gen/otterscale/fleet/v1/fleet_pb.ts";
import { file_otterscale_resource_v1_resource } from "../../shared/gen/otterscale/resource/v1/resource_pb.ts";
import { file_otterscale_runtime_v1_runtime } from "../../shared/gen/otterscale/runtime/v1/runtime_pb.ts";
import { indexDescriptors, registerReflection } from "./reflection.ts";

const SERVED_FILES = [
  file_otterscale_fleet_v1_fleet,
  file_otterscale_resource_v1_resource,
  file_otterscale_runtime_v1_runtime,
  file_grpc_health_v1_health,
];

type Request = MessageInitShape<typeof v1.ServerReflectionRequestSchema>;

function clients() {
  const transport = createRouterTransport((router) => {
    registerReflection(router, SERVED_FILES);
  });
  return {
    v1: createClient(v1.ServerReflection, transport),
    v1alpha: createClient(v1alpha.ServerReflection, transport),
  };
}

/** Sends `requests` on one v1 stream and collects every response. */
async function exchange(requests: Request[], client = clients().v1): Promise<v1.ServerReflectionResponse[]> {
  const responses: v1.ServerReflectionResponse[] = [];
  for await (const response of client.serverReflectionInfo(fromArray(requests))) responses.push(response);
  return responses;
}

async function* fromArray<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

function filesOf(response: v1.ServerReflectionResponse) {
  assert.equal(
    response.messageResponse.case,
    "fileDescriptorResponse",
    JSON.stringify(response.messageResponse),
  );
  return response.messageResponse.value.fileDescriptorProto.map((bytes) =>
    fromBinary(FileDescriptorProtoSchema, bytes)
  );
}

function fileNamesOf(response: v1.ServerReflectionResponse): string[] {
  return filesOf(response).map((file) => file.name);
}

const symbol = (name: string): Request => ({ messageRequest: { case: "fileContainingSymbol", value: name } });

Deno.test("list_services names the app services, Health and both reflection services", async () => {
  const [response] = await exchange([{ host: "hub", messageRequest: { case: "listServices", value: "*" } }]);
  assert.equal(response.messageResponse.case, "listServicesResponse");
  assert.deepEqual(response.messageResponse.value.service.map((service) => service.name).sort(), [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
    "otterscale.fleet.v1.FleetService",
    "otterscale.resource.v1.ResourceService",
    "otterscale.runtime.v1.RuntimeService",
  ]);
  assert.equal(response.validHost, "hub");
  assert.equal(response.originalRequest?.messageRequest.case, "listServices");
});

Deno.test("file_containing_symbol resolves a method through its service, with transitive dependencies", async () => {
  const [response] = await exchange([symbol("otterscale.resource.v1.ResourceService.Watch")]);
  assert.deepEqual(fileNamesOf(response), [
    "otterscale/resource/v1/resource.proto",
    "google/protobuf/empty.proto",
    "google/protobuf/struct.proto",
    "otterscale/api/annotations.proto",
    "google/protobuf/descriptor.proto",
  ]);
});

Deno.test("file_containing_symbol resolves messages, nested enums, enum values, fields and extensions", async () => {
  const cases: [string, string][] = [
    ["otterscale.runtime.v1.PodLogRequest", "otterscale/runtime/v1/runtime.proto"],
    [".otterscale.runtime.v1.PodLogRequest", "otterscale/runtime/v1/runtime.proto"],
    ["otterscale.runtime.v1.PodLogRequest.since_time", "otterscale/runtime/v1/runtime.proto"],
    ["otterscale.resource.v1.WatchEvent.Type", "otterscale/resource/v1/resource.proto"],
    ["otterscale.resource.v1.WatchEvent.TYPE_ADDED", "otterscale/resource/v1/resource.proto"],
    ["otterscale.resource.v1.ResourceService", "otterscale/resource/v1/resource.proto"],
    ["otterscale.api.feature", "otterscale/api/annotations.proto"],
    ["grpc.health.v1.HealthCheckResponse.ServingStatus", "grpc/health/v1/health.proto"],
    ["google.protobuf.Timestamp", "google/protobuf/timestamp.proto"],
    [
      "grpc.reflection.v1alpha.ServerReflection.ServerReflectionInfo",
      "grpc/reflection/v1alpha/reflection.proto",
    ],
  ];
  const responses = await exchange(cases.map(([name]) => symbol(name)));
  assert.deepEqual(responses.map((response) => fileNamesOf(response)[0]), cases.map(([, file]) => file));
});

Deno.test("runtime.proto arrives with its timestamp dependency", async () => {
  const [response] = await exchange([symbol("otterscale.runtime.v1.PodLogRequest")]);
  assert.deepEqual(fileNamesOf(response).sort(), [
    "google/protobuf/descriptor.proto",
    "google/protobuf/empty.proto",
    "google/protobuf/timestamp.proto",
    "otterscale/api/annotations.proto",
    "otterscale/runtime/v1/runtime.proto",
  ]);
});

Deno.test("file_by_filename returns fleet.proto with its dependencies and the feature option intact", async () => {
  const [response] = await exchange([
    { messageRequest: { case: "fileByFilename", value: "otterscale/fleet/v1/fleet.proto" } },
  ]);
  const files = filesOf(response);
  assert.deepEqual(files.map((file) => file.name), [
    "otterscale/fleet/v1/fleet.proto",
    "otterscale/api/annotations.proto",
    "google/protobuf/descriptor.proto",
  ]);
  const listClusters = files[0].service.find((service) => service.name === "FleetService")?.method
    .find((method) => method.name === "ListClusters");
  assert.ok(listClusters?.options, "ListClusters has no options");
  assert.ok(hasExtension(listClusters.options, feature));
  assert.equal(getExtension(listClusters.options, feature).name, "fleet-enabled");
});

Deno.test("each dependency is sent once per stream, and again on a new stream", async () => {
  const client = clients().v1;
  const [runtime, resource, resourceAgain] = await exchange([
    symbol("otterscale.runtime.v1.RuntimeService"),
    symbol("otterscale.resource.v1.ResourceService"),
    symbol("otterscale.resource.v1.Resource"),
  ], client);
  assert.equal(fileNamesOf(runtime).length, 5);
  // empty.proto, annotations.proto and descriptor.proto went out with runtime.proto already.
  assert.deepEqual(fileNamesOf(resource), [
    "otterscale/resource/v1/resource.proto",
    "google/protobuf/struct.proto",
  ]);
  // The file asked for is always in the answer, so no answer is empty.
  assert.deepEqual(fileNamesOf(resourceAgain), ["otterscale/resource/v1/resource.proto"]);

  const [fresh] = await exchange([symbol("otterscale.resource.v1.ResourceService")], client);
  assert.equal(fileNamesOf(fresh).length, 5);
});

Deno.test("extensions: by containing type and number, and all numbers of a type", async () => {
  const [byNumber, numbers, none, unknownNumber, unknownType] = await exchange([
    {
      messageRequest: {
        case: "fileContainingExtension",
        value: { containingType: "google.protobuf.MethodOptions", extensionNumber: 7777777 },
      },
    },
    { messageRequest: { case: "allExtensionNumbersOfType", value: "google.protobuf.MethodOptions" } },
    { messageRequest: { case: "allExtensionNumbersOfType", value: "otterscale.fleet.v1.Cluster" } },
    {
      messageRequest: {
        case: "fileContainingExtension",
        value: { containingType: "google.protobuf.MethodOptions", extensionNumber: 1 },
      },
    },
    { messageRequest: { case: "allExtensionNumbersOfType", value: "no.such.Message" } },
  ]);
  assert.equal(fileNamesOf(byNumber)[0], "otterscale/api/annotations.proto");
  assert.deepEqual(numbers.messageResponse, {
    case: "allExtensionNumbersResponse",
    value: {
      $typeName: "grpc.reflection.v1.ExtensionNumberResponse",
      baseTypeName: "google.protobuf.MethodOptions",
      extensionNumber: [7777777],
    },
  });
  assert.equal(none.messageResponse.case, "allExtensionNumbersResponse");
  assert.deepEqual(none.messageResponse.value.extensionNumber, []);
  for (const response of [unknownNumber, unknownType]) {
    assert.equal(response.messageResponse.case, "errorResponse");
    assert.equal(response.messageResponse.value.errorCode, 5);
  }
});

Deno.test("unknown names answer NOT_FOUND and malformed requests INVALID_ARGUMENT, echoing the request", async () => {
  const [unknownSymbol, unknownFile, emptySymbol, noRequest] = await exchange([
    { host: "example:443", ...symbol("otterscale.fleet.v1.Nope") },
    { messageRequest: { case: "fileByFilename", value: "otterscale/fleet/v1/fleet" } },
    symbol(""),
    { host: "example:443" },
  ]);
  assert.deepEqual(unknownSymbol.messageResponse.value, {
    $typeName: "grpc.reflection.v1.ErrorResponse",
    errorCode: 5,
    errorMessage: 'symbol "otterscale.fleet.v1.Nope" not found',
  });
  assert.equal(unknownSymbol.validHost, "example:443");
  assert.deepEqual(unknownSymbol.originalRequest?.messageRequest, {
    case: "fileContainingSymbol",
    value: "otterscale.fleet.v1.Nope",
  });
  assert.equal(unknownFile.messageResponse.case, "errorResponse");
  assert.equal(unknownFile.messageResponse.value.errorCode, 5);
  for (const response of [emptySymbol, noRequest]) {
    assert.equal(response.messageResponse.case, "errorResponse");
    assert.equal(response.messageResponse.value.errorCode, 3);
  }
});

Deno.test("v1alpha serves the same answers with its own message types", async () => {
  const requests = (async function* () {
    yield { messageRequest: { case: "listServices" as const, value: "" } };
    yield { messageRequest: { case: "fileByFilename" as const, value: "otterscale/fleet/v1/fleet.proto" } };
  })();
  const responses: v1alpha.ServerReflectionResponse[] = [];
  for await (const response of clients().v1alpha.serverReflectionInfo(requests)) responses.push(response);
  assert.equal(responses[0].$typeName, "grpc.reflection.v1alpha.ServerReflectionResponse");
  assert.equal(responses[0].messageResponse.case, "listServicesResponse");
  assert.equal(responses[0].messageResponse.value.service.length, 6);
  assert.equal(responses[1].messageResponse.case, "fileDescriptorResponse");
  assert.equal(responses[1].messageResponse.value.fileDescriptorProto.length, 3);
});

Deno.test("each request is answered before the client closes its side of the stream", async () => {
  const client: Client<typeof v1.ServerReflection> = clients().v1;
  let answered!: () => void;
  const firstAnswer = new Promise<void>((resolve) => answered = resolve);
  async function* requests(): AsyncGenerator<Request> {
    yield symbol("otterscale.fleet.v1.FleetService");
    await firstAnswer; // never resolves unless the server answers while the stream is still open
    yield symbol("otterscale.fleet.v1.Cluster");
  }
  const names: string[] = [];
  for await (const response of client.serverReflectionInfo(requests())) {
    names.push(fileNamesOf(response)[0]);
    answered();
  }
  assert.deepEqual(names, ["otterscale/fleet/v1/fleet.proto", "otterscale/fleet/v1/fleet.proto"]);
});

Deno.test("indexDescriptors refuses two different descriptors for one file path", () => {
  const impostor = { ...file_otterscale_fleet_v1_fleet, dependencies: [] };
  assert.throws(
    () => indexDescriptors([file_otterscale_fleet_v1_fleet, impostor]),
    { message: 'reflection: two different descriptors for file "otterscale/fleet/v1/fleet.proto"' },
  );
});
