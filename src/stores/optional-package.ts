/**
 * Loading a store's optional package (better-sqlite3, ioredis) once, only when that store is
 * chosen, with one error for a missing or unloadable package: a `ConfigError` naming the
 * `npm install` (or `npm rebuild`) that fixes it.
 *
 * @internal
 * @module
 */
import { ConfigError } from '../errors.js';

const loaded = new Map<string, Promise<unknown>>();

/**
 * Import `name` once (a failed import is tried again next time) and take what the store needs
 * from it with `pick`, which throws when the module is not what was expected.
 *
 * @param name the package, e.g. `better-sqlite3`.
 * @param store the store that needs it, for the message (`sqlite`, `redis`).
 * @param importer the `import()` of the package (a literal specifier, for bundlers).
 */
export function loadOptionalPackage<T>(
  name: string,
  store: string,
  importer: () => Promise<unknown>,
  pick: (mod: unknown) => T,
): Promise<T> {
  let promise = loaded.get(name) as Promise<T> | undefined;
  if (promise === undefined) {
    promise = importer().then(pick, (cause: unknown) => {
      const code = (cause as NodeJS.ErrnoException).code;
      if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
        throw new ConfigError(
          `the ${store} store needs the ${name} package, which is not installed. install it: npm install ${name}`,
          { cause },
        );
      }
      throw new ConfigError(
        `the ${name} package could not be loaded (built for another Node.js version?). rebuild it: npm rebuild ${name}`,
        { cause },
      );
    });
    promise.catch(() => loaded.delete(name));
    loaded.set(name, promise);
  }
  return promise;
}
