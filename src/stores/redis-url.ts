/**
 * Redis URLs as people see them: checked (`redis://` or `rediss://`) and masked (no password in
 * a message, a `location` or `status`). Kept apart from the store so that describing a Redis
 * store loads neither ioredis nor `node:crypto`.
 *
 * @internal
 * @module
 */

/** The URL with any password replaced by `****`, for messages and `location`. */
export function maskRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '****';
    else if (u.username !== '' && !u.password) u.username = '****';
    return u.toString();
  } catch {
    return 'redis://(unparseable URL)';
  }
}

/** True for a `redis://` or `rediss://` URL. */
export function isRedisUrl(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  return parsed.protocol === 'redis:' || parsed.protocol === 'rediss:';
}
