import type { StubServer } from '../targets/stub/server.js';
import type { StubsView } from './source.js';

/** The Stubs view: each stub's journal (the last 200 requests) and its unmatched requests. */
export function stubsView(stubs: ReadonlyMap<string, StubServer>): StubsView | undefined {
  if (stubs.size === 0) return undefined;
  return {
    stubs: [...stubs].map(([name, stub]) => {
      const journal = stub.requests();
      return {
        name,
        dir: stub.dir,
        mappings: stub.mappings().length,
        journal: journal.slice(-200),
        unmatched: stub.requests({ unmatched: true }).slice(-50),
      };
    }),
  };
}
