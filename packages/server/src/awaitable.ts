/**
 * A value now, or a promise of it. The authenticated hot path answers from memory (the
 * credential cache, the in-process rate-limit store) for almost every request; functions on it
 * return their answer directly when they have it, and a promise only when they must wait for a
 * database or Redis. A promise and the turn of the microtask queue it costs, taken five times
 * over, were a measurable share of a request's CPU (docs/benchmarks.md).
 */
export type Awaitable<T> = T | Promise<T>;

/**
 * `next(value)`, at once when the value is here, or when the promise settles. (Not named `then`:
 * a module exporting `then` is taken for a promise when it is imported dynamically.)
 */
export function andThen<T, U>(value: Awaitable<T>, next: (value: T) => Awaitable<U>): Awaitable<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}
