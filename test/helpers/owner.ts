/**
 * What a helper hands the stop of the thing it started: a test's context `t` (node:test's
 * `TestContext`), whose `after` hooks run when that test ends, passed or failed. Every helper
 * that starts a hub, an agent, a server or a process takes one and registers the stop itself,
 * so a failed assertion can never leave the thing running and the file waiting for its
 * timeout. The stops are idempotent: a test whose subject is the stop may still call it.
 */
export interface Owner {
  after(fn: () => void | Promise<void>): void;
}

/**
 * The owner for programs that are not tests (the benches and their scenarios): they stop what
 * they start themselves, in a `finally`, so nothing is registered here.
 */
export const STOPPED_BY_CALLER: Owner = { after: () => {} };
