/**
 * A small YAML writer for manifests built from plain data. Every string scalar is written as a JSON
 * string literal, which is also a valid YAML double-quoted scalar, so no value (a cluster name, a URL,
 * a token) can end its scalar early and inject keys or documents. Characters that some YAML parsers
 * treat as line breaks or refuse unescaped (C1 controls, U+2028/2029, BOM) are escaped as well.
 */

type Plain = string | number | boolean | null | Plain[] | { [key: string]: Plain };

const plainKey = /^[A-Za-z0-9][A-Za-z0-9_.\/-]*$/;

/** Multi-document YAML: each document starts with a `---` line. */
export function yamlDocuments(documents: readonly unknown[]): string {
  return documents.map((document) => `---\n${block(document as Plain, 0).join("\n")}\n`).join("");
}

/** A string as a quoted scalar that reads back as exactly that string. */
export function quoteScalar(text: string): string {
  // A lone surrogate cannot be encoded in UTF-8, and YAML parsers reject its escape.
  if (!text.isWellFormed()) throw new RangeError(`string ${JSON.stringify(text)} is not well-formed Unicode`);
  return JSON.stringify(text).replace(
    /[\u007f-\u009f\u2028\u2029\ufeff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

function block(value: Plain, indent: number): string[] {
  const pad = " ".repeat(indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${pad}[]`];
    return value.flatMap((item) => {
      const lines = isNested(item) ? block(item, indent + 2) : [`${pad}  ${scalar(item)}`];
      // The first line of the item carries the dash in place of two spaces of its indent.
      return [`${pad}- ${lines[0].slice(indent + 2)}`, ...lines.slice(1)];
    });
  }
  if (isMapping(value)) {
    const entries = Object.entries(value);
    if (entries.length === 0) return [`${pad}{}`];
    return entries.flatMap(([key, item]) => {
      const name = plainKey.test(key) ? key : quoteScalar(key);
      if (isNested(item)) return [`${pad}${name}:`, ...block(item, indent + 2)];
      return [`${pad}${name}: ${scalar(item)}`];
    });
  }
  return [`${pad}${scalar(value)}`];
}

/** Non-empty sequences and mappings go on their own lines; everything else fits after a key or dash. */
function isNested(value: Plain): value is Plain[] | { [key: string]: Plain } {
  if (Array.isArray(value)) return value.length > 0;
  return isMapping(value) && Object.keys(value).length > 0;
}

function isMapping(value: Plain): value is { [key: string]: Plain } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function scalar(value: Plain): string {
  if (Array.isArray(value)) return "[]";
  if (isMapping(value)) return "{}";
  if (typeof value === "string") return quoteScalar(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new RangeError(`number ${value} has no YAML form`);
    return String(value);
  }
  if (typeof value === "boolean") return value ? "true" : "false";
  if (value === null) return "null";
  throw new TypeError(`cannot write a ${typeof value} as YAML`);
}
