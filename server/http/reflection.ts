import { create, type DescFile, toBinary } from "@bufbuild/protobuf";
import { nestedTypes } from "@bufbuild/protobuf/reflect";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import * as v1 from "../../shared/gen/grpc/reflection/v1/reflection_pb.ts";
import * as v1alpha from "../../shared/gen/grpc/reflection/v1alpha/reflection_pb.ts";

/**
 * What a reflection request asks, in the shape v1 and v1alpha share: their messages are identical
 * except for the package name, so one implementation serves both.
 */
export type ReflectionRequest = {
  host: string;
  messageRequest:
    | {
      case: "fileByFilename" | "fileContainingSymbol" | "allExtensionNumbersOfType" | "listServices";
      value: string;
    }
    | { case: "fileContainingExtension"; value: { containingType: string; extensionNumber: number } }
    | { case: undefined; value?: undefined };
};

/** The `message_response` oneof of a reflection response, without the version-specific type names. */
export type ReflectionAnswer =
  | { case: "fileDescriptorResponse"; value: { fileDescriptorProto: Uint8Array[] } }
  | { case: "allExtensionNumbersResponse"; value: { baseTypeName: string; extensionNumber: number[] } }
  | { case: "listServicesResponse"; value: { service: { name: string }[] } }
  | { case: "errorResponse"; value: { errorCode: number; errorMessage: string } };

/** Everything reflection can answer about a set of files, looked up by the names clients ask for. */
export type DescriptorIndex = {
  /** Every file and transitive dependency, by its path (`file.proto.name`; `DescFile.name` lacks ".proto"). */
  files: ReadonlyMap<string, DescFile>;
  /** Serialized FileDescriptorProto per path, encoded once. */
  encoded: ReadonlyMap<string, Uint8Array>;
  /** Fully-qualified name → defining file, for every named element protobuf can resolve. */
  symbols: ReadonlyMap<string, DescFile>;
  /** Fully-qualified names of message types; extendable types are among these. */
  messageTypes: ReadonlySet<string>;
  /** Extended message type → extension number → file declaring the extension. */
  extensions: ReadonlyMap<string, ReadonlyMap<number, DescFile>>;
  /** Services of the files given (not of their dependencies), in order. */
  services: readonly string[];
};

/** The files that describe the reflection services themselves; `registerReflection` always serves them. */
export const REFLECTION_FILES: readonly DescFile[] = [
  v1.file_grpc_reflection_v1_reflection,
  v1alpha.file_grpc_reflection_v1alpha_reflection,
];

/**
 * Serves `grpc.reflection.v1.ServerReflection` and its predecessor `grpc.reflection.v1alpha` on `router`,
 * describing `files` (generated `file_…` descriptors), their dependencies and the reflection files.
 */
export function registerReflection(router: ConnectRouter, files: readonly DescFile[]): DescriptorIndex {
  const index = indexDescriptors([...files, ...REFLECTION_FILES]);
  router.service(v1.ServerReflection, {
    serverReflectionInfo: answerEach(
      index,
      (request: v1.ServerReflectionRequest, answer) =>
        create(v1.ServerReflectionResponseSchema, {
          validHost: request.host,
          originalRequest: request,
          messageResponse: answer,
        }),
    ),
  });
  router.service(v1alpha.ServerReflection, {
    serverReflectionInfo: answerEach(
      index,
      (request: v1alpha.ServerReflectionRequest, answer) =>
        create(v1alpha.ServerReflectionResponseSchema, {
          validHost: request.host,
          originalRequest: request,
          messageResponse: answer,
        }),
    ),
  });
  return index;
}

// One reflection stream: each request gets exactly one response, in order. `sent` lives per stream so a
// client that walks a schema file by file receives each shared dependency once.
function answerEach<Req extends ReflectionRequest, Res>(
  index: DescriptorIndex,
  respond: (request: Req, answer: ReflectionAnswer) => Res,
): (requests: AsyncIterable<Req>) => AsyncIterable<Res> {
  return async function* (requests) {
    const sent = new Set<string>();
    for await (const request of requests) {
      yield respond(request, answerRequest(index, request, sent));
    }
  };
}

/**
 * Answers one reflection request. File answers hold the file that was asked for (always, even if this
 * stream sent it before, so no answer is empty) followed by those of its transitive dependencies not yet
 * in `sent`; every file sent is added to `sent`.
 */
export function answerRequest(
  index: DescriptorIndex,
  request: ReflectionRequest,
  sent: Set<string>,
): ReflectionAnswer {
  const ask = request.messageRequest;
  switch (ask.case) {
    case "listServices":
      return { case: "listServicesResponse", value: { service: index.services.map((name) => ({ name })) } };
    case "fileByFilename": {
      const file = index.files.get(ask.value);
      return file ? filesAnswer(index, file, sent) : notFound(`file "${ask.value}" not found`);
    }
    case "fileContainingSymbol": {
      if (ask.value === "") return invalidArgument("file_containing_symbol needs a symbol name");
      const file = index.symbols.get(stripLeadingDot(ask.value));
      return file ? filesAnswer(index, file, sent) : notFound(`symbol "${ask.value}" not found`);
    }
    case "fileContainingExtension": {
      const { containingType, extensionNumber } = ask.value;
      const file = index.extensions.get(stripLeadingDot(containingType))?.get(extensionNumber);
      return file
        ? filesAnswer(index, file, sent)
        : notFound(`extension ${extensionNumber} of type "${containingType}" not found`);
    }
    case "allExtensionNumbersOfType": {
      const typeName = stripLeadingDot(ask.value);
      if (!index.messageTypes.has(typeName)) return notFound(`message type "${ask.value}" not found`);
      const numbers = [...(index.extensions.get(typeName)?.keys() ?? [])].sort((a, b) => a - b);
      return {
        case: "allExtensionNumbersResponse",
        value: { baseTypeName: typeName, extensionNumber: numbers },
      };
    }
    default:
      return invalidArgument("reflection request names no known message_request");
  }
}

function filesAnswer(index: DescriptorIndex, file: DescFile, sent: Set<string>): ReflectionAnswer {
  const fileDescriptorProto: Uint8Array[] = [];
  const queue = [file];
  const queued = new Set([file.proto.name]);
  for (let next = queue.shift(); next; next = queue.shift()) {
    const path = next.proto.name;
    if (next === file || !sent.has(path)) fileDescriptorProto.push(index.encoded.get(path)!);
    sent.add(path);
    for (const dependency of next.dependencies) {
      if (queued.has(dependency.proto.name)) continue;
      queued.add(dependency.proto.name);
      queue.push(dependency);
    }
  }
  return { case: "fileDescriptorResponse", value: { fileDescriptorProto } };
}

function notFound(errorMessage: string): ReflectionAnswer {
  return { case: "errorResponse", value: { errorCode: Code.NotFound, errorMessage } };
}

function invalidArgument(errorMessage: string): ReflectionAnswer {
  return { case: "errorResponse", value: { errorCode: Code.InvalidArgument, errorMessage } };
}

// Some clients send fully-qualified names the way descriptors spell them, with a leading dot.
function stripLeadingDot(name: string): string {
  return name.startsWith(".") ? name.slice(1) : name;
}

/**
 * Indexes `files` and their transitive dependencies. Throws if two different files share a path or two
 * files define the same symbol, since reflection could not tell which one a client means.
 */
export function indexDescriptors(files: readonly DescFile[]): DescriptorIndex {
  const byPath = new Map<string, DescFile>();
  const visit = (file: DescFile) => {
    const path = file.proto.name;
    const known = byPath.get(path);
    if (known === file) return;
    if (known) throw new Error(`reflection: two different descriptors for file "${path}"`);
    byPath.set(path, file);
    file.dependencies.forEach(visit);
  };
  files.forEach(visit);

  const symbols = new Map<string, DescFile>();
  const messageTypes = new Set<string>();
  const extensions = new Map<string, Map<number, DescFile>>();
  const define = (name: string, file: DescFile) => {
    const known = symbols.get(name);
    if (known && known !== file) {
      throw new Error(
        `reflection: symbol "${name}" defined in both "${known.proto.name}" and "${file.proto.name}"`,
      );
    }
    symbols.set(name, file);
  };
  for (const file of byPath.values()) {
    for (const name of symbolNames(file)) define(name, file);
    for (const type of nestedTypes(file)) {
      if (type.kind === "message") messageTypes.add(type.typeName);
      if (type.kind !== "extension") continue;
      const numbers = extensions.get(type.extendee.typeName) ?? new Map<number, DescFile>();
      numbers.set(type.number, file);
      extensions.set(type.extendee.typeName, numbers);
    }
  }

  const encoded = new Map(
    [...byPath].map(([path, file]) => [path, toBinary(FileDescriptorProtoSchema, file.proto)]),
  );
  const services = [...new Set(files.flatMap((file) => file.services.map((service) => service.typeName)))];
  return { files: byPath, encoded, symbols, messageTypes, extensions, services };
}

/**
 * Every fully-qualified name `file` defines: messages, their fields and oneofs, enums and their values,
 * services and their methods, and extensions. Methods, fields and enum values are not registry entries in
 * protobuf-es, so their names are built from the parent's.
 */
export function* symbolNames(file: DescFile): Generator<string> {
  for (const type of nestedTypes(file)) {
    yield type.typeName;
    switch (type.kind) {
      case "message":
        for (const member of [...type.fields, ...type.oneofs]) yield `${type.typeName}.${member.name}`;
        break;
      case "enum": {
        // Enum values are scoped as siblings of their enum, not inside it (C++ scoping rules).
        const scope = type.typeName.slice(0, type.typeName.length - type.name.length);
        for (const value of type.values) yield `${scope}${value.name}`;
        break;
      }
      case "service":
        for (const method of type.methods) yield `${type.typeName}.${method.name}`;
        break;
    }
  }
}
