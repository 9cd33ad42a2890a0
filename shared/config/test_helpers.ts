/** Helpers shared by the config tests. */

import assert from "node:assert/strict";
import { ConfigError } from "./errors.ts";
import type { EnvReader } from "./env.ts";
import type { FileReader } from "./file.ts";
import type { ProgramSchema } from "./schema.ts";

/** Runs `fn`, which must throw a ConfigError, and returns it for further checks. */
export function expectConfigError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    return error;
  }
  assert.fail("expected a ConfigError, but nothing was thrown");
}

export function envOf(vars: Record<string, string>): EnvReader {
  return (name) => Object.hasOwn(vars, name) ? vars[name] : undefined;
}

/** A reader that knows only the given files, by exact path. */
export function filesOf(files: Record<string, string>): FileReader {
  return (path) => Object.hasOwn(files, path) ? files[path] : undefined;
}

/** One key of every type, all optional, plus a nested key and a key with a fallback variable. */
export const TEST_SCHEMA: ProgramSchema = {
  program: "otterscale-test",
  section: "test",
  otherSections: ["other"],
  keys: [
    { key: "test.name", type: "string", default: "from-default", description: "A name." },
    { key: "test.items", type: "list", default: "d1,d2", description: "Some items." },
    { key: "test.enabled", type: "boolean", default: "false", description: "A switch." },
    { key: "test.count", type: "integer", default: "1", description: "A count." },
    { key: "test.wait", type: "duration", default: "1s", description: "A wait." },
    {
      key: "test.level",
      type: "enum",
      choices: ["debug", "info", "warn", "error"],
      default: "error",
      description: "A level.",
    },
    { key: "test.endpoint", type: "url", default: "http://default.example", description: "An endpoint." },
    { key: "test.listen", type: "address", default: ":1000", description: "A listen address." },
    { key: "test.nested.dir_path", type: "string", default: "/default", description: "A nested key." },
    { key: "test.secret", type: "string", default: "", secret: true, description: "A secret." },
    {
      key: "test.home",
      type: "string",
      default: "",
      fallbackEnv: "TEST_HOME",
      description: "With a fallback.",
    },
  ],
};

/** Two required keys (one with a default) besides an optional one. */
export const REQUIRED_SCHEMA: ProgramSchema = {
  program: "otterscale-required",
  section: "req",
  otherSections: [],
  keys: [
    { key: "req.origins", type: "list", required: true, description: "Required list." },
    { key: "req.issuer", type: "url", required: true, description: "Required URL." },
    {
      key: "req.hub",
      type: "url",
      required: true,
      default: "http://hub.example",
      description: "Has a default.",
    },
    { key: "req.port", type: "address", default: ":1", description: "Optional." },
  ],
};
