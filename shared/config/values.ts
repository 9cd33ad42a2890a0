/** Turning the text a user wrote (flag, env, YAML scalar) into a typed value of a schema key. */

import { type ListenAddress, parseAddress } from "./address.ts";
import { parseDuration } from "./duration.ts";
import type { ConfigKey } from "./schema.ts";

/** `duration` and `integer` are numbers (a duration in milliseconds). */
export type ConfigValue = string | string[] | boolean | number | URL | ListenAddress;

/** Text from one source; several texts only from a YAML list or a repeated flag. */
export type RawValue = string | readonly string[];

export type Parsed = { value: ConfigValue } | { reason: string };

const TRUE_WORDS = ["true", "1", "yes"];
const FALSE_WORDS = ["false", "0", "no"];
const INTEGER = /^[+-]?\d+$/;

/** List items never contain commas or whitespace, so both separate items wherever they appear. */
export function splitList(raw: RawValue): string[] {
  const texts = typeof raw === "string" ? [raw] : raw;
  return texts.flatMap((text) => text.split(/[\s,]+/)).filter((item) => item !== "");
}

/** Empty means "says nothing": blank text, or a list without items. */
export function isEmptyValue(entry: ConfigKey, raw: RawValue): boolean {
  if (entry.type === "list") return splitList(raw).length === 0;
  return typeof raw === "string" && raw.trim() === "";
}

export function parseValue(entry: ConfigKey, raw: RawValue): Parsed {
  if (entry.type === "list") return parseList(entry, raw);
  if (typeof raw !== "string") return { reason: "expected a single value, got a list" };
  const text = raw.trim();
  if (entry.type === "string") return parseString(entry, text);
  if (text === "") return { reason: "empty value" };
  switch (entry.type) {
    case "boolean":
      return parseBoolean(text);
    case "integer":
      return parseInteger(text);
    case "duration":
      return fromResult(parseDuration(text), (r) => r.ms);
    case "enum":
      return parseEnum(entry, text);
    case "url":
      return parseUrl(text);
    case "address":
      return fromResult(parseAddress(text), (r) => r.address);
  }
}

function parseString(entry: ConfigKey, text: string): Parsed {
  const reason = entry.check?.(text);
  return reason ? { reason } : { value: text };
}

function parseList(entry: ConfigKey, raw: RawValue): Parsed {
  const items = splitList(raw);
  for (const item of items) {
    const reason = entry.check?.(item);
    if (reason) return { reason: `item "${item}": ${reason}` };
  }
  return { value: items };
}

function parseBoolean(text: string): Parsed {
  const word = text.toLowerCase();
  if (TRUE_WORDS.includes(word)) return { value: true };
  if (FALSE_WORDS.includes(word)) return { value: false };
  return { reason: "expected a boolean: true/false, yes/no or 1/0" };
}

function parseInteger(text: string): Parsed {
  const value = Number(text);
  if (!INTEGER.test(text) || !Number.isSafeInteger(value)) return { reason: "expected a whole number" };
  return { value };
}

function parseEnum(entry: ConfigKey, text: string): Parsed {
  const choices = entry.choices ?? [];
  const word = text.toLowerCase();
  if (choices.includes(word)) return { value: word };
  return { reason: `expected one of ${choices.join(", ")}` };
}

function parseUrl(text: string): Parsed {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return { reason: "not a valid URL (expected e.g. https://host:port/path)" };
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    return { reason: `expected an http or https URL, got scheme "${url.protocol.slice(0, -1)}"` };
  }
  return { value: url };
}

function fromResult<R extends object>(result: R | { reason: string }, pick: (r: R) => ConfigValue): Parsed {
  return "reason" in result ? { reason: result.reason } : { value: pick(result) };
}

/** A raw value and where it came from, for error messages. */
export interface SourcedValue {
  readonly raw: RawValue;
  /** `flag --x`, `env OTTERSCALE_X`, `file ./config.yaml:3`, `default`. */
  readonly source: string;
}
