/**
 * What the process holds for its whole life, closed once, in the reverse of
 * the order it was opened: the listeners first (in-flight requests finish),
 * then what they used (pools, key caches, the Redis client).
 */
export class Lifetime {
  readonly #closers: { readonly name: string; readonly close: () => unknown }[] = [];
  #closing: Promise<void> | undefined;

  /** Registers `close` to run when the process's parts are closed, before everything added earlier. */
  add(name: string, close: () => unknown): void {
    this.#closers.push({ name, close });
  }

  /** Closes everything once; a part that fails to close is reported and the rest still close. */
  close(onError: (name: string, err: unknown) => void): Promise<void> {
    this.#closing ??= (async () => {
      for (const c of this.#closers.reverse()) {
        try {
          await c.close();
        } catch (err) {
          onError(c.name, err);
        }
      }
    })();
    return this.#closing;
  }
}
