/**
 * The config folder on each platform, and the files inside it.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  certDir,
  configDir,
  configFilePath,
  defaultTokenPath,
  isValidProfileName,
} from '../../src/paths.js';

describe('configDir', () => {
  it('Linux: XDG_CONFIG_HOME when absolute, else ~/.config', () => {
    expect(configDir({ XDG_CONFIG_HOME: '/x/cfg', HOME: '/home/a' }, { platform: 'linux' })).toBe(
      '/x/cfg/td-token',
    );
    expect(configDir({ HOME: '/home/a' }, { platform: 'linux' })).toBe('/home/a/.config/td-token');
    // A relative XDG_CONFIG_HOME is invalid by the spec and ignored.
    expect(configDir({ XDG_CONFIG_HOME: 'rel', HOME: '/home/a' }, { platform: 'linux' })).toBe(
      '/home/a/.config/td-token',
    );
    expect(configDir({}, { platform: 'linux', homedir: '/h' })).toBe('/h/.config/td-token');
  });

  it('macOS: ~/Library/Preferences unless XDG_CONFIG_HOME is set', () => {
    expect(configDir({ HOME: '/Users/a' }, { platform: 'darwin' })).toBe(
      '/Users/a/Library/Preferences/td-token',
    );
    expect(
      configDir({ HOME: '/Users/a', XDG_CONFIG_HOME: '/Users/a/.cfg' }, { platform: 'darwin' }),
    ).toBe('/Users/a/.cfg/td-token');
  });

  it('Windows: %APPDATA%, else the profile folder', () => {
    expect(configDir({ APPDATA: 'C:\\Users\\a\\AppData\\Roaming' }, { platform: 'win32' })).toBe(
      'C:\\Users\\a\\AppData\\Roaming\\td-token',
    );
    expect(configDir({ USERPROFILE: 'C:\\Users\\a' }, { platform: 'win32' })).toBe(
      'C:\\Users\\a\\AppData\\Roaming\\td-token',
    );
  });

  it('the files inside it', () => {
    const env = { XDG_CONFIG_HOME: '/c', HOME: '/h' };
    expect(defaultTokenPath('work', env, { platform: 'linux' })).toBe(
      join('/c/td-token', 'tokens', 'work.json'),
    );
    expect(certDir(env, { platform: 'linux' })).toBe(join('/c/td-token', 'certs'));
    expect(configFilePath(env, { platform: 'linux' })).toBe(join('/c/td-token', 'config.json'));
  });

  it('profile names are safe file names', () => {
    for (const ok of ['default', 'work', 'bot-1', 'a.b_c', 'x', 'a-', 'a_', 'x'.repeat(64)])
      expect(isValidProfileName(ok)).toBe(true);
    for (const bad of [
      '',
      '..',
      '../x',
      'a/b',
      '.hidden',
      'x.',
      'a b',
      'x'.repeat(65),
      `${'x'.repeat(63)}.`,
    ]) {
      expect(isValidProfileName(bad)).toBe(false);
    }
    expect(() => defaultTokenPath('../x', {})).toThrow(
      new TypeError('"profile" must be a name of letters, digits, ".", "_" or "-"'),
    );
  });
});
