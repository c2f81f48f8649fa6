import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runAction } from '../../scripts/support/actionRun.js';
import {
  connectionScenarios,
  connectionSpec,
  expectFailed,
} from '../support/connectionScenarios.js';
import { hostileInputScenarios } from '../support/hostileInputScenarios.js';
import { promotionScenarios } from '../support/promotionScenarios.js';
import { startRedisServer, type RedisServer } from '../../scripts/support/redisServer.js';
import { seedPrp } from '../support/seed.js';
import { makeTestCertificates, type TestCertificates } from '../support/tls.js';

/**
 * The built action, dist/index.js, run by Node 24 exactly as the runner runs it (see
 * scripts/support/actionRun.ts), against real redis-servers and a local GitHub API.
 */

describe('node dist/index.js', () => {
  promotionScenarios(runAction);
  connectionScenarios(runAction);
  hostileInputScenarios(runAction);

  describe('over TLS (rediss://)', () => {
    let certs: TestCertificates;
    let server: RedisServer;
    let url: string;

    beforeAll(async () => {
      certs = makeTestCertificates();
      server = await startRedisServer({ tls: certs });
      url = `rediss://localhost:${server.port}`;
      const admin = new Redis({
        host: '127.0.0.1',
        port: server.port,
        tls: { ca: readFileSync(certs.caFile), servername: 'localhost' },
      });
      try {
        await seedPrp(admin, 'prp', 'PRP-77', 'integration');
      } finally {
        admin.disconnect();
      }
    });
    afterAll(async () => {
      try {
        await server?.stop();
      } finally {
        certs?.remove();
      }
    });

    test('promotes when the server certificate is trusted (NODE_EXTRA_CA_CERTS)', async () => {
      const outcome = await runAction({
        ...connectionSpec(url, { 'prp-id': 'PRP-77' }),
        env: { NODE_EXTRA_CA_CERTS: certs.caFile },
      });
      expect(outcome.stderr).toBe('');
      expect(outcome.code).toBe(0);
      expect(outcome.outputs).toMatchObject({ result: 'promoted', 'prp-id': 'PRP-77' });
    });

    test('fails with a TLS message when the certificate is not trusted', async () => {
      const outcome = await runAction(connectionSpec(url, { 'prp-id': 'PRP-77' }));
      expectFailed(
        outcome,
        `::error::TLS handshake with rediss://localhost:${server.port} failed: `,
      );
    });
  });
});
