// An experiment, not the build: the CLI bundled so that everything `td-token token` loads for a
// fresh token is one chunk beside the entry (3 files instead of 24), the other commands staying
// separate chunks loaded on demand. Build it after `npm run build`, then time it:
//   npx rolldown -c bench/bundle.config.mjs
//   TD_BENCH_PARTS=startup TD_BENCH_CLI=$TMPDIR/td-token-bundle/main.js node bench/run.mjs
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The modules `td-token token` imports on its fresh-token path (NODE_DEBUG=esm lists them). */
const TOKEN_PATH =
  /dist\/(cli\/(run|failure|fix-command|format|io|options|config-load|refresh-warning|commands\/token)|config|errors|paths|token|util\/(random|time)|stores\/(atomic-file|codec|create|envelope|file-lock|file|folder-mode|host-id|lock-wait|memory))\.js$/;

export default {
  input: 'dist/cli/main.js',
  platform: 'node',
  external: ['better-sqlite3', 'ioredis', 'playwright-core'],
  output: {
    dir: join(tmpdir(), 'td-token-bundle'),
    format: 'esm',
    advancedChunks: { groups: [{ name: 'token-path', test: TOKEN_PATH }] },
  },
};
