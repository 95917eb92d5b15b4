/**
 * Where the token agent lives on disk: its socket (`$XDG_RUNTIME_DIR/td-token/agent.sock`, or
 * `<config>/run/agent.sock` where there is no runtime folder) and its loopback HTTP secret
 * (`<config>/run/agent.secret`). Pure functions of the environment: `td-token token` calls them
 * on its hot path.
 *
 * @module
 */
import { isAbsolute, join } from 'node:path';
import { APP_DIR_NAME } from '../paths.js';

/** The socket file's name inside the agent's folder. */
export const SOCKET_NAME = 'agent.sock';
/** The secret file's name inside `<config>/run`. */
export const SECRET_NAME = 'agent.secret';

/** The agent's folder: `$XDG_RUNTIME_DIR/td-token` when that is set and absolute, else `<config>/run`. */
export function agentDir(env: NodeJS.ProcessEnv, configDir: string): string {
  const runtime = env['XDG_RUNTIME_DIR'];
  if (runtime !== undefined && runtime !== '' && isAbsolute(runtime)) {
    return join(runtime, APP_DIR_NAME);
  }
  return join(configDir, 'run');
}

/** The default socket path. */
export function defaultSocketPath(env: NodeJS.ProcessEnv, configDir: string): string {
  return join(agentDir(env, configDir), SOCKET_NAME);
}

/** The default secret file of the loopback HTTP surface: `<config>/run/agent.secret`. */
export function defaultSecretPath(configDir: string): string {
  return join(configDir, 'run', SECRET_NAME);
}
