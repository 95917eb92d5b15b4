/**
 * What a promise rejected with, for asserting on an error's class, code and message; a promise
 * that settles without rejecting fails the test.
 */
import { expect } from 'vitest';

/**
 * Await `promise` and return what it rejected with; throw when it did not reject. Given `type`,
 * also expect the rejection to be an instance of it.
 *
 * @example
 * const error = await rejection(store.lock({ waitMs: 30 }), StoreError);
 * expect(error.code).toBe('lock_timeout');
 */
export async function rejection(promise: Promise<unknown>): Promise<Error>;
export async function rejection<T>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => T,
): Promise<T>;
export async function rejection(
  promise: Promise<unknown>,
  type?: abstract new (...args: never[]) => unknown,
): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    if (type !== undefined) expect(error).toBeInstanceOf(type);
    return error;
  }
  throw new Error('expected a rejection');
}
