/**
 * The few DOM APIs the page uses, typed here. The repository is type-checked as one program with
 * Deno's libraries; pulling in the DOM library (`/// <reference lib="dom" />`) would apply to every
 * file and clash with Deno's own stream and fetch types.
 */

export interface PageElement {
  hidden: boolean;
  textContent: string | null;
  readonly dataset: Record<string, string | undefined>;
  onclick: (() => void) | null;
  append(...children: PageElement[]): void;
  replaceChildren(...children: PageElement[]): void;
}

interface PageDocument {
  getElementById(id: string): PageElement | null;
  createElement(tag: string): PageElement;
}

interface PageHistory {
  replaceState(data: unknown, unused: string, url: string): void;
}

const browser = globalThis as unknown as { document: PageDocument; history: PageHistory };

export function element(id: string): PageElement {
  const found = browser.document.getElementById(id);
  if (!found) throw new Error(`the page has no #${id}`);
  return found;
}

export function createElement(tag: string): PageElement {
  return browser.document.createElement(tag);
}

/** Changes the address bar without loading anything. */
export function replaceAddress(url: string): void {
  browser.history.replaceState(null, "", url);
}
