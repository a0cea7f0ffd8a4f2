// Cleanup registered as things are set up, run after the test whether it passed or not, in
// reverse order: what was started last stops first (a client before its proxy, a proxy
// before its backends, whose graceful shutdown waits for the proxy's connections to close).
// node:test runs a test's own t.after hooks first-in first-out, hence one hook per test
// running this stack.
import type { TestContext } from "node:test";

export type Cleanup = () => unknown;

/** A LIFO list of cleanups; run() runs them all, even past a failing one, and throws the first error. */
export class Teardown {
  private readonly cleanups: Cleanup[] = [];

  defer(fn: Cleanup): void {
    this.cleanups.push(fn);
  }

  async run(): Promise<void> {
    const errors: unknown[] = [];
    for (let fn = this.cleanups.pop(); fn !== undefined; fn = this.cleanups.pop()) {
      try {
        await fn();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `${errors.length} cleanups failed`);
  }
}

/** A test (its cleanups run in its t.after) or a suite's own Teardown (run in the suite's after()). */
export type Owner = TestContext | Teardown;

const stacks = new WeakMap<TestContext, Teardown>();

function teardownOf(owner: Owner): Teardown {
  if (owner instanceof Teardown) return owner;
  let stack = stacks.get(owner);
  if (stack === undefined) {
    const created = new Teardown();
    stacks.set(owner, created);
    owner.after(() => created.run());
    stack = created;
  }
  return stack;
}

/** Runs `fn` when `owner` ends, before everything deferred earlier. */
export function defer(owner: Owner, fn: Cleanup): void {
  teardownOf(owner).defer(fn);
}

/** Wraps `fn` so that it runs once: a test may stop something early, its teardown then does nothing. */
export function once(fn: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= fn());
}
