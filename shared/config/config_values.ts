/**
 * The loaded values of one program, with one getter per value type. A program's
 * config module maps them onto its own typed object; each getter checks that the
 * key exists with that type, so a typo fails on the first load in tests.
 */

import type { ListenAddress } from "./address.ts";
import type { ConfigKey, ProgramSchema, ValueType } from "./schema.ts";
import type { ConfigValue } from "./values.ts";

export class ConfigValues {
  readonly #entries: ReadonlyMap<string, ConfigKey>;
  readonly #values: ReadonlyMap<string, ConfigValue>;

  constructor(schema: ProgramSchema, values: ReadonlyMap<string, ConfigValue>) {
    this.#entries = new Map(schema.keys.map((entry) => [entry.key, entry]));
    this.#values = values;
  }

  string(key: string): string {
    return this.#get(key, "string") as string;
  }

  list(key: string): string[] {
    return [...this.#get(key, "list") as string[]];
  }

  boolean(key: string): boolean {
    return this.#get(key, "boolean") as boolean;
  }

  integer(key: string): number {
    return this.#get(key, "integer") as number;
  }

  durationMs(key: string): number {
    return this.#get(key, "duration") as number;
  }

  /** `choices` is the caller's typed list; it must cover the schema's, which the check enforces. */
  choice<T extends string>(key: string, choices: readonly T[]): T {
    const value = this.#get(key, "enum") as string;
    const choice = choices.find((c) => c === value);
    if (choice === undefined) {
      throw new Error(`config key ${key}: "${value}" is not one of ${choices.join(", ")}`);
    }
    return choice;
  }

  url(key: string): URL {
    return new URL(this.#get(key, "url") as URL);
  }

  address(key: string): ListenAddress {
    return { ...this.#get(key, "address") as ListenAddress };
  }

  #get(key: string, type: ValueType): ConfigValue {
    const entry = this.#entries.get(key);
    if (!entry) throw new Error(`config key ${key} is not in the schema`);
    if (entry.type !== type) throw new Error(`config key ${key} has type ${entry.type}, not ${type}`);
    const value = this.#values.get(key);
    if (value === undefined) throw new Error(`config key ${key} has no value`);
    return value;
  }
}
