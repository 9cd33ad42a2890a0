/** Catches mistakes in a schema table itself; these are programming errors, not user errors. */

import { flagName } from "./names.ts";
import { BUILTIN_FLAGS, type ProgramSchema } from "./schema.ts";

export function checkSchema(schema: ProgramSchema): void {
  const flags = new Set<string>(BUILTIN_FLAGS);
  const keys = new Set<string>();
  for (const entry of schema.keys) {
    const fail = (why: string) => {
      throw new Error(`config schema of ${schema.program}: key ${entry.key} ${why}`);
    };
    if (!entry.key.startsWith(schema.section + ".")) fail(`must start with "${schema.section}."`);
    if (!/^[a-z0-9_.]+$/.test(entry.key)) fail("may only use a-z, 0-9, _ and .");
    if (keys.has(entry.key)) fail("is declared twice");
    keys.add(entry.key);
    const flag = flagName(schema, entry.key);
    if (flags.has(flag)) fail(`has flag --${flag}, which is already taken`);
    flags.add(flag);
    // Every key has a value after loading, so callers never handle "unset".
    if (!entry.required && entry.default === undefined) fail("needs a default or required: true");
    if (entry.type === "enum" && !entry.choices?.length) fail("is an enum without choices");
    if (entry.check && entry.type !== "string" && entry.type !== "list") fail("has a check but is not text");
  }
  for (const key of keys) {
    // A key that is also a group (a.b and a.b.c) could not be written in YAML.
    if ([...keys].some((other) => other.startsWith(key + "."))) {
      throw new Error(`config schema of ${schema.program}: key ${key} is also a group of keys`);
    }
  }
}
