/**
 * Terminal sizes waiting to be sent. Bounded: when it is full the oldest pending size is dropped, since a
 * terminal only needs to end up at the latest size.
 */

export interface TerminalSize {
  rows: number;
  cols: number;
}

export const RESIZE_QUEUE_CAPACITY = 4;

export class ResizeQueue {
  readonly #capacity: number;
  #sizes: TerminalSize[] = [];

  constructor(capacity = RESIZE_QUEUE_CAPACITY) {
    this.#capacity = capacity;
  }

  get length(): number {
    return this.#sizes.length;
  }

  push(size: TerminalSize): void {
    const last = this.#sizes.at(-1);
    if (last && last.rows === size.rows && last.cols === size.cols) return;
    if (this.#sizes.length >= this.#capacity) this.#sizes.shift();
    this.#sizes.push(size);
  }

  shift(): TerminalSize | undefined {
    return this.#sizes.shift();
  }
}
