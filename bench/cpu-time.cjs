// Loaded with `node -r` by the bench's start-up pairs: on exit, print the CPU time the process
// used (user + system, every thread, since it started) to stderr, in ms.
process.on('exit', () => {
  const used = process.cpuUsage();
  require('node:fs').writeSync(2, `td-token-bench-cpu ${(used.user + used.system) / 1000}\n`);
});
