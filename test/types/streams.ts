/**
 * Type tests of streams in `Remote<T>` (npm run typecheck, and test/unit/remote-types.test.ts):
 * a method returning an async iterable becomes one returning `RemoteIterable<X>` (not a
 * Promise), and X follows the crossing rules of results.
 */
import type { Remote, RemoteIterable } from '../../src/index.js';

class Feed {
  async *changes(_since: number): AsyncGenerator<{ value: number; at: Date }> {}
  letters(): AsyncIterable<string> {
    return { [Symbol.asyncIterator]: () => ({ next: async () => ({ done: true, value: undefined }) }) };
  }
  async later(): Promise<AsyncIterable<Map<string, number>>> {
    return this.later();
  }
  async *callbacks(): AsyncGenerator<() => void> {}
  async *withMethods(): AsyncGenerator<{ get(): number }> {}
  // biome-ignore lint/suspicious/noExplicitAny: what an untyped method returns
  untyped(): any {
    return 1;
  }
  subscribe(_onItem: (value: number) => void): AsyncIterable<number> {
    return this.letters() as unknown as AsyncIterable<number>;
  }
}

declare const feed: Remote<Feed>;

export async function accepted(): Promise<void> {
  for await (const change of feed.changes(0)) {
    const value: number = change.value;
    const at: Date = change.at;
    void [value, at];
  }
  await using letters = feed.letters();
  for await (const letter of letters) {
    const text: string = letter;
    void text;
  }
  const maps: RemoteIterable<Map<string, number>> = feed.later();
  void maps;
  // `any` stays a call: a Promise, not a union with a stream.
  const untyped: Promise<unknown> = feed.untyped();
  await untyped;
}

export async function refused(): Promise<void> {
  // @ts-expect-error a stream is not a Promise
  await feed.changes(0).then(() => {});
  // @ts-expect-error items that are functions cannot cross: the method is not callable
  feed.callbacks();
  // @ts-expect-error items with methods cannot cross
  feed.withMethods();
  // @ts-expect-error a callback parameter of a streaming method cannot cross
  feed.subscribe((value: number) => console.log(value));
  // @ts-expect-error an untyped method's call is not iterable by type
  for await (const _ of feed.untyped());
  // @ts-expect-error items keep their type
  for await (const change of feed.changes(0)) change.value.toUpperCase();
}
