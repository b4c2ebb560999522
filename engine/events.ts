// A minimal typed event emitter: subscribing returns the function that unsubscribes.

export type Listener<T> = (value: T) => void;

export class Emitter<T> {
  #listeners = new Set<Listener<T>>();

  on(listener: Listener<T>): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  emit(value: T): void {
    for (const listener of [...this.#listeners]) listener(value);
  }

  clear(): void {
    this.#listeners.clear();
  }
}
