// One process of the bench's stampede: a token manager on a shared store, driven over
// stdin/stdout, one JSON object a line. It never prints a token, only a short hash of it.
//   env TD_BENCH_PROVIDER  {"name", ...provider options}
//   env TD_BENCH_STORE     a store spec for createStore
//   env TD_BENCH_WARM      when set, call getAccounts() once before reporting ready, as a bot
//                          that uses the API has (its HTTP client is then loaded and warm)
//   stdin  {"id":n,"offset":ms}  clock = Date.now() + offset; call getAccessToken()
//          {"id":n,"roundTrips":k}  time k refresh grants of the stored record (nothing saved)
//   stdout {"ready":true} once, then {"id":n,"ms","cpuMs","refreshed","token":"<hash>"} or
//          {"id":n,"error":"code"}
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { TokenManager } from '../dist/manager.js';
import { refreshAccessToken } from '../dist/oauth/index.js';
import { createProvider } from '../dist/providers/index.js';
import { createStore } from '../dist/stores/index.js';

const { name, ...providerOptions } = JSON.parse(process.env.TD_BENCH_PROVIDER ?? '{}');
const store = await createStore(JSON.parse(process.env.TD_BENCH_STORE ?? '{}'));
let offset = 0;
const provider = createProvider(name, providerOptions);
// td-token's default retry settings (3 retries, first backoff 500 ms): a fault, if one happens,
// is timed as users meet it.
const manager = new TokenManager(provider, store, { now: () => Date.now() + offset });
let refreshed = false;
manager.on('refresh', () => {
  refreshed = true;
});
const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

createInterface({ input: process.stdin }).on('line', async (line) => {
  const message = JSON.parse(line);
  if (message.exit) {
    await manager.close();
    process.exit(0);
  }
  if (message.roundTrips) {
    const record = await store.load();
    const times = [];
    for (let i = 0; i < message.roundTrips; i++) {
      const started = performance.now();
      await refreshAccessToken(provider, record, { retry: false });
      times.push(performance.now() - started);
    }
    send({ id: message.id, times });
    return;
  }
  offset = message.offset;
  refreshed = false;
  const cpu = process.cpuUsage();
  const started = performance.now();
  try {
    const token = await manager.getAccessToken();
    const ms = performance.now() - started;
    const used = process.cpuUsage(cpu);
    send({
      id: message.id,
      ms,
      // CPU this process spent on the call, ms: far below `ms` means it waited (for the CPU,
      // the lock, the provider), not that it worked.
      cpuMs: (used.user + used.system) / 1000,
      refreshed,
      token: createHash('sha256').update(token).digest('hex').slice(0, 16),
    });
  } catch (err) {
    send({ id: message.id, error: err?.code ?? 'unexpected' });
  }
});
if (process.env.TD_BENCH_WARM) await manager.getAccounts();
send({ ready: true });
