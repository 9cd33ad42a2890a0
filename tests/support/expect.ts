/** Assertions end-to-end tests share: an RPC's error code, and waiting for something to happen. */
import assert from "node:assert/strict";
import { Code, ConnectError } from "@connectrpc/connect";

/** Awaits `promise`, which must fail with `code` (and a message matching `message`). */
export async function expectCode(
  promise: Promise<unknown>,
  code: Code,
  message?: RegExp,
): Promise<ConnectError> {
  let caught: ConnectError | undefined;
  try {
    await promise;
  } catch (error) {
    caught = ConnectError.from(error);
  }
  assert.ok(caught, `expected ${Code[code]}, but the call succeeded`);
  assert.equal(Code[caught.code], Code[code], caught.rawMessage);
  if (message) assert.match(caught.rawMessage, message);
  return caught;
}

/** Polls `check` until it returns a value, or fails after `timeoutMs` naming `what` and the last error. */
export async function until<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const started = Date.now();
  let last: unknown;
  while (Date.now() - started < timeoutMs) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms (last error: ${last})`);
}
