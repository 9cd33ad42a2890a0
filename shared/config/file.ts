/**
 * The YAML config file: where it is looked for, and how its nested keys
 * (`server: {tunnel: {ca_dir: …}}`) become values of schema keys.
 */

import { resolve } from "node:path";
import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import { ConfigError, type ConfigProblem } from "./errors.ts";
import type { ProgramSchema } from "./schema.ts";
import type { SourcedValue } from "./values.ts";

/** Returns the file's text, or undefined when it does not exist. */
export type FileReader = (path: string) => string | undefined;

export const denoReadFile: FileReader = (path) => {
  try {
    return Deno.readTextFileSync(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
};

/** Looked for in this order when `--config` is not given. */
export const SEARCH_PATHS = ["./config.yaml", "/etc/otterscale/config.yaml"] as const;

export interface FoundFile {
  readonly path: string;
  readonly text: string;
}

/**
 * The explicit `--config` file, which must exist, or else the first search path
 * that does. `cwd` only matters for relative paths; without it they stay relative,
 * which needs no permission to find the working directory.
 */
export function findConfigFile(
  explicit: string | undefined,
  readFile: FileReader,
  cwd?: string,
): { file?: FoundFile; warnings: string[] } {
  if (explicit !== undefined) return { file: readExplicit(absolute(explicit, cwd), readFile), warnings: [] };
  const warnings: string[] = [];
  for (const candidate of SEARCH_PATHS) {
    const path = absolute(candidate, cwd);
    try {
      const text = readFile(path);
      if (text !== undefined) return { file: { path, text }, warnings };
    } catch (error) {
      // Under a narrow --allow-read we cannot even tell whether the file exists: skip it, but say so.
      if (!(error instanceof Deno.errors.NotCapable)) throw cannotRead(path, error);
      warnings.push(`config file ${path} skipped: not permitted to read it (add it to --allow-read)`);
    }
  }
  return { warnings };
}

export interface FileValues {
  /** By schema key. */
  readonly values: Map<string, SourcedValue>;
  readonly warnings: string[];
  /** Keys whose YAML has the wrong shape (e.g. a mapping where a value belongs). */
  readonly problems: ConfigProblem[];
}

/** Throws ConfigError when the file is not valid YAML, with the line and column. */
export function parseConfigFile(schema: ProgramSchema, file: FoundFile): FileValues {
  const lineCounter = new LineCounter();
  const doc = parseDocument(file.text, { lineCounter, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((error) => ({ source: `file ${file.path}`, reason: error.message })),
    );
  }
  const walk = new Walk(schema, file.path, doc, lineCounter);
  for (const warning of doc.warnings) walk.result.warnings.push(`${file.path}: ${warning.message}`);
  walk.top(doc.contents);
  return walk.result;
}

function absolute(path: string, cwd: string | undefined): string {
  return cwd === undefined ? path : resolve(cwd, path);
}

function readExplicit(path: string, readFile: FileReader): FoundFile {
  let text: string | undefined;
  try {
    text = readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) {
      throw new ConfigError([{
        source: "flag --config",
        reason: `not permitted to read ${path}; add it to --allow-read`,
      }]);
    }
    throw cannotRead(path, error);
  }
  if (text === undefined) {
    throw new ConfigError([{ source: "flag --config", reason: `${path} does not exist` }]);
  }
  return { path, text };
}

function cannotRead(path: string, error: unknown): ConfigError {
  const why = error instanceof Error ? error.message : String(error);
  return new ConfigError([{ source: `file ${path}`, reason: `cannot read it: ${why}` }]);
}

/** One pass over the document, collecting values, warnings and problems. */
class Walk {
  readonly result: FileValues = { values: new Map(), warnings: [], problems: [] };
  readonly #keys: Set<string>;

  constructor(
    readonly schema: ProgramSchema,
    readonly path: string,
    readonly doc: Document,
    readonly lines: LineCounter,
  ) {
    this.#keys = new Set(schema.keys.map((entry) => entry.key));
  }

  top(node: unknown): void {
    if (node === null || node === undefined) return; // empty file, or only comments
    if (!isMap(node)) {
      this.result.problems.push({
        source: this.where(node),
        reason: "the config file must be a mapping of sections",
      });
      return;
    }
    for (const pair of node.items) {
      const name = this.keyName(pair.key);
      if (name === this.schema.section) this.section(name, pair.value);
      else if (name === undefined || !this.schema.otherSections.includes(name)) this.unknown(name, pair.key);
    }
  }

  /** A mapping that groups keys, e.g. `server:` or `server.tunnel:`. */
  section(prefix: string, node: unknown): void {
    const resolved = this.resolve(node);
    if (resolved === null || resolved === undefined) return;
    if (isScalar(resolved) && resolved.value === null) return; // `tunnel:` with nothing under it
    if (!isMap(resolved)) {
      this.result.problems.push({
        source: this.where(resolved),
        reason: `${prefix} must be a mapping of keys`,
      });
      return;
    }
    for (const pair of resolved.items) {
      const name = this.keyName(pair.key);
      const key = name === undefined ? undefined : `${prefix}.${name}`;
      if (key !== undefined && this.#keys.has(key)) this.leaf(key, pair.value);
      else if (key !== undefined && this.isGroup(key)) this.section(key, pair.value);
      else this.unknown(key, pair.key);
    }
  }

  leaf(key: string, node: unknown): void {
    const resolved = this.resolve(node);
    const source = this.where(resolved ?? node);
    if (resolved === null || resolved === undefined) {
      this.result.values.set(key, { raw: "", source });
    } else if (isScalar(resolved)) {
      this.result.values.set(key, { raw: scalarText(resolved), source });
    } else if (isSeq(resolved)) {
      const items: string[] = [];
      for (const item of resolved.items) {
        const itemNode = this.resolve(item);
        if (!isScalar(itemNode)) {
          this.result.problems.push({
            key,
            source: this.where(itemNode),
            reason: "list items must be plain values",
          });
          return;
        }
        items.push(scalarText(itemNode));
      }
      this.result.values.set(key, { raw: items, source });
    } else {
      this.result.problems.push({ key, source, reason: "expected a value, got a mapping" });
    }
  }

  unknown(key: string | undefined, keyNode: unknown): void {
    const shown = key ?? "a non-text key";
    this.result.warnings.push(`unknown config key ${shown} at ${this.position(keyNode)}`);
  }

  isGroup(key: string): boolean {
    return [...this.#keys].some((known) => known.startsWith(key + "."));
  }

  keyName(node: unknown): string | undefined {
    return isScalar(node) && typeof node.value === "string" ? node.value : undefined;
  }

  resolve(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.doc) : node;
  }

  /** `file ./config.yaml:7`, the source of a value for error messages. */
  where(node: unknown): string {
    return `file ${this.position(node)}`;
  }

  /** `./config.yaml:7`, with the line of the node when known. */
  position(node: unknown): string {
    const range = (node as Node | undefined)?.range;
    return range ? `${this.path}:${this.lines.linePos(range[0]).line}` : this.path;
  }
}

/**
 * The text as written, so `1.10` stays `1.10` and `yes` stays `yes`; an empty
 * value (`key:`) is empty text.
 */
function scalarText(node: { value: unknown; source?: string }): string {
  if (typeof node.value === "string") return node.value;
  if (node.value === null || node.value === undefined) return "";
  return node.source ?? String(node.value);
}
