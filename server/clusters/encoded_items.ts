/**
 * The items of a List reply, encoded one by one as they arrive instead of kept as parsed objects until
 * the reply is serialised. Each item's JSON text is transcoded (and sanitised) straight into protobuf
 * wire bytes (json_struct_wire.ts) the moment it is complete; the bytes sit in large blocks.
 *
 * protobuf-es writes a message's unknown fields verbatim after its known ones, so the encoded items
 * ride in `$unknown` as field `items` of ListResponse: to a reader they are exactly the repeated
 * `Resource` elements toBinary would have produced. That only works for the binary format; a caller
 * speaking JSON gets the plain objects (see `speaksBinary`).
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { create, type UnknownField } from "@bufbuild/protobuf";
import { WireType } from "@bufbuild/protobuf/wire";
import {
  ListResponseSchema,
  type Resource,
  ResourceSchema,
} from "../../shared/gen/otterscale/resource/v1/resource_pb.ts";
import { JsonStructTranscoder, JsonSyntaxError } from "./json_struct_wire.ts";
import { invalidList } from "./list_body.ts";
import { WireBuffer } from "./wire_buffer.ts";

/** Blocks hold many items; an item bigger than this gets a block of its own. */
const BLOCK_BYTES = 1024 * 1024;

const ITEMS_FIELD = ListResponseSchema.field.items.number;

// The transcoder writes Resource.object as field 1; a renumbered proto must not go unnoticed.
if (ResourceSchema.field.object.number !== 1) {
  throw new Error("encoded_items: Resource.object is no longer field 1; update json_struct_wire.ts");
}

export class EncodedItems {
  readonly #scratch = new WireBuffer();
  readonly #transcoder = new JsonStructTranscoder(this.#scratch);
  readonly #fields: UnknownField[] = [];
  #block = new Uint8Array(0);
  #used = 0;
  #bytes = 0;

  get count(): number {
    return this.#fields.length;
  }

  /** Encoded bytes held so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Adds the item whose JSON text is `json` (the `index`th, for errors), sanitised. */
  add(json: Uint8Array, index: number): void {
    this.#scratch.reset();
    const length = this.#scratch.reserveLength();
    try {
      this.#transcoder.wholeResource(json);
    } catch (error) {
      if (error instanceof JsonSyntaxError) throw invalidList(`item ${index}: ${error.message}`);
      throw error;
    }
    this.#scratch.fixLength(length);
    this.#keep(this.#scratch.view());
  }

  /**
   * Adds the item starting at `start` in `bytes` if it ends there; returns the index after it, or -1
   * (nothing added) when it runs past the end or is malformed: `add` it once the scanner has it whole.
   */
  consume(bytes: Uint8Array, start: number): number {
    this.#scratch.reset();
    const length = this.#scratch.reserveLength();
    let end: number;
    try {
      end = this.#transcoder.resource(bytes, start);
    } catch (error) {
      if (error instanceof JsonSyntaxError) return -1;
      throw error;
    }
    this.#scratch.fixLength(length);
    this.#keep(this.#scratch.view());
    return end;
  }

  #keep(encoded: Uint8Array): void {
    if (this.#used + encoded.length > this.#block.length) {
      this.#block = new Uint8Array(Math.max(BLOCK_BYTES, encoded.length));
      this.#used = 0;
    }
    const start = this.#used;
    this.#block.set(encoded, start);
    this.#used += encoded.length;
    this.#bytes += encoded.length;
    // Length-delimited unknown data holds the length prefix too, as protobuf-es reads and writes it.
    this.#fields.push({
      no: ITEMS_FIELD,
      wireType: WireType.LengthDelimited,
      data: this.#block.subarray(start, this.#used),
    });
  }

  /** For ListResponse's `$unknown`: the items, in order, as the field they encode. */
  unknownFields(): UnknownField[] {
    return this.#fields;
  }
}

/**
 * A `Resource` for one object's JSON text (a Get answer), sanitised, whose `object` rides in `$unknown`
 * already encoded: for binary callers, so that a Get never builds the object nor protobuf-es's Struct of
 * it. `action` names the call for the error when the text is not one JSON object.
 */
export function encodedResource(json: Uint8Array, action: string): Resource {
  const out = new WireBuffer(json.length + 64);
  try {
    new JsonStructTranscoder(out).wholeResource(json);
  } catch (error) {
    if (!(error instanceof JsonSyntaxError)) throw error;
    throw new ConnectError(
      `${action}: the cluster answered something other than one JSON object: ${error.message}`,
      Code.Internal,
    );
  }
  // The transcoder wrote field 1 whole (tag, length, Struct); unknown data is the length and the Struct.
  const resource = create(ResourceSchema);
  resource.$unknown = [{ no: 1, wireType: WireType.LengthDelimited, data: out.view().subarray(1) }];
  return resource;
}

/**
 * True when the reply will be serialised as binary protobuf: Connect (`application/proto`), gRPC and
 * gRPC-web without `+json`. Anything else (JSON, or a Connect GET, which has no content type) is false.
 */
export function speaksBinary(contentType: string | null): boolean {
  if (!contentType) return false;
  const type = contentType.split(";", 1)[0].trim().toLowerCase();
  return type === "application/proto" || type === "application/grpc" || type === "application/grpc+proto" ||
    type === "application/grpc-web" || type === "application/grpc-web+proto";
}
