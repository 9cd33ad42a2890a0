/** Runs the real `buf curl` client (npm @bufbuild/buf) against the hub. */
import { bufBinary } from "./repo.ts";

export interface BufCurlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export async function bufCurl(args: string[]): Promise<BufCurlResult> {
  const output = await new Deno.Command(bufBinary, { args: ["curl", ...args], stdin: "null" }).output();
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

/** buf curl's protocol flags for each of the three protocols the hub speaks. */
export const protocolFlags: Record<"connect" | "grpc" | "grpcweb", string[]> = {
  connect: ["--protocol", "connect"],
  grpc: ["--protocol", "grpc", "--http2-prior-knowledge"],
  grpcweb: ["--protocol", "grpcweb"],
};
