// Helpers for the PKI tests only (not exported from mod.ts).
import assert from "node:assert/strict";
import { PkiError, type PkiErrorReason } from "./errors.ts";

export interface OpensslResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the system openssl, an independent implementation to check our encodings against. */
export async function openssl(args: string[], stdin?: string): Promise<OpensslResult> {
  const child = new Deno.Command("openssl", {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const output = await child.output();
  const decoder = new TextDecoder();
  return { code: output.code, stdout: decoder.decode(output.stdout), stderr: decoder.decode(output.stderr) };
}

/** openssl must succeed; returns its stdout. */
export async function opensslOk(args: string[], stdin?: string): Promise<string> {
  const result = await openssl(args, stdin);
  assert.equal(result.code, 0, `openssl ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout;
}

export async function withTempDir<T>(action: (dir: string) => Promise<T>): Promise<T> {
  const dir = await Deno.makeTempDir({ prefix: "otterscale-pki-test-" });
  try {
    return await action(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Awaits `promise`, expecting a PkiError with `reason` whose message includes `fragment`. */
export async function assertRejectsPki(
  promise: Promise<unknown> | (() => unknown),
  reason: PkiErrorReason,
  fragment: string,
): Promise<PkiError> {
  let caught: unknown;
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof PkiError, `expected a PkiError (${reason}, "${fragment}"), got ${caught}`);
  assert.equal(caught.reason, reason, caught.message);
  assert.ok(caught.message.includes(fragment), `"${caught.message}" does not include "${fragment}"`);
  return caught;
}
