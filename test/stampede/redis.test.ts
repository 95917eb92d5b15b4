import { startRedis } from '../helpers/redis.js';
import { stampedeSuite } from './suite.js';

stampedeSuite('redis', {
  flavor: 'schwab',
  async open() {
    const redis = await startRedis();
    return {
      spec: { kind: 'redis', url: redis.url, profile: 'default' },
      cleanup: () => redis.stop(),
    };
  },
});
