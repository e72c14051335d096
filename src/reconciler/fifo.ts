/**
 * A first-in first-out list with O(1) push and shift.
 *
 * `Array.prototype.shift` is O(n); a work queue holding thousands of keys would pay that on
 * every `get()`. Here the head advances by index and the consumed prefix is dropped only
 * once it outweighs the live part, so the amortised cost stays constant.
 */
export class Fifo<T> {
  #items: T[] = [];
  #head = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  push(item: T): void {
    this.#items.push(item);
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head] as T;
    // Drop the reference so a consumed key can be collected.
    (this.#items as (T | undefined)[])[this.#head] = undefined;
    this.#head++;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}
