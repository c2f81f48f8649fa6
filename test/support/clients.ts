import type { Redis } from 'ioredis';
import { afterAll, beforeAll, inject } from 'vitest';
import { testClient } from '../../scripts/support/redisServer.js';

/**
 * Two plain clients of the suite's shared server for a test file, opened before its tests and
 * closed after: `redis` for the code under test and set-up, `other` to change keys while a
 * call is under way (a promotion racing a demotion, a key changed between read and write).
 */
export function twoClients(): { readonly redis: Redis; readonly other: Redis } {
  let redis: Redis | undefined;
  let other: Redis | undefined;
  beforeAll(() => {
    redis = testClient(inject('redisUrl'));
    other = testClient(inject('redisUrl'));
  });
  afterAll(() => {
    redis?.disconnect();
    other?.disconnect();
  });
  const opened = (client: Redis | undefined) => {
    if (!client) throw new Error('twoClients() is read before its beforeAll ran');
    return client;
  };
  return {
    get redis() {
      return opened(redis);
    },
    get other() {
      return opened(other);
    },
  };
}
