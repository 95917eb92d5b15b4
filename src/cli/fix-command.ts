/**
 * The exact command that fixes something, with the flags that pick this login (profile, store,
 * provider, endpoints) as the person gave them, so it can be pasted as it is.
 *
 * @internal
 * @module
 */
import { shellQuote } from './format.js';
import { GLOBAL_VALUE_FLAGS } from './options.js';

/** `td-token <command>` plus the configuration flags in `values` (the client secret as a placeholder). */
export function fixCommand(
  command: string,
  values: Record<string, string | boolean | undefined>,
): string {
  const parts = ['td-token', command];
  for (const name of GLOBAL_VALUE_FLAGS) {
    const value = values[name];
    if (typeof value !== 'string') continue;
    parts.push(
      `--${name}`,
      name === 'client-secret' ? '"$TD_TOKEN_CLIENT_SECRET"' : shellQuote(value),
    );
  }
  return parts.join(' ');
}
