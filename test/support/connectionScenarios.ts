import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { printedOutput, type RunOutcome, type RunSpec } from '../../scripts/support/actionRun.js';
import { pushEvent } from './events.js';
import type { Runner } from './promotionScenarios.js';
import {
  REFUSED_PORT,
  startRedisServer,
  testClient,
  type RedisServer,
} from '../../scripts/support/redisServer.js';
import { loadScript } from '../../src/core/index.js';
import { startCuttingProxy } from './cuttingProxy.js';
import { seedPrp } from './seed.js';
import { startTcpServer } from './tcpServer.js';

/**
 * A Redis the action cannot use: it must fail the step with a message naming the cause, in
 * time, never showing the password. Shared by the in-process and the dist tests.
 */

export const PASSWORD = 'pa55w0rd-zX9q';

/** integration -> validate on a push to main whose smoke job passed: no GitHub API call. */
export const connectionSpec = (redisUrl: string, inputs: Record<string, string> = {}): RunSpec => ({
  eventName: 'push',
  event: pushEvent('Merge pull request #17 from acme/feature/PRP-7-checkout'),
  inputs: { 'redis-url': redisUrl, 'target-state': 'validate', 'ci-result': 'success', ...inputs },
});

/** The step failed with `message`, and the password is nowhere a person can read. */
export function expectFailed(outcome: RunOutcome, message: string | RegExp): void {
  expect(outcome.code).toBe(1);
  const annotation = outcome.stdout.split('\n').find((line) => line.startsWith('::error::'));
  expect(annotation).toMatch(message);
  for (const text of [printedOutput(outcome), outcome.stderr, outcome.summary]) {
    expect(text).not.toContain(PASSWORD);
  }
  expect(outcome.summary).toContain('❌ failed');
  expect(outcome.outputs.promoted).toBe('false');
}

export function connectionScenarios(runAction: Runner): void {
  describe('fails in time, saying why, on a Redis it cannot use', () => {
    let secured: RedisServer;
    beforeAll(async () => {
      secured = await startRedisServer({ args: ['--requirepass', PASSWORD] });
    });
    afterAll(() => secured?.stop());

    test('a wrong password: authentication failed, password never shown', async () => {
      const url = `redis://:wrong-${PASSWORD}@127.0.0.1:${secured.port}`;
      const outcome = await runAction(connectionSpec(url));
      expectFailed(outcome, /authentication failed at redis:\/\/127\.0\.0\.1:\d+ for user default/);
      expect(outcome.stdout).toContain(`::add-mask::wrong-${PASSWORD}`);
    });

    test('no password where one is required', async () => {
      const outcome = await runAction(connectionSpec(`redis://127.0.0.1:${secured.port}`));
      expectFailed(outcome, /authentication failed/);
    });

    test('the right password in the URL works, and is masked', async () => {
      const url = `redis://:${PASSWORD}@127.0.0.1:${secured.port}`;
      const outcome = await runAction(connectionSpec(url, { 'prp-id': 'PRP-404' }));
      // Connected and authenticated: the refusal is Redis's own (no such PRP).
      expect(outcome.stdout).toContain('::error::PRP_NOT_FOUND');
      expect(printedOutput(outcome)).not.toContain(PASSWORD);
      expect(outcome.summary).not.toContain(PASSWORD);
    });

    test('a refused port', async () => {
      const port = REFUSED_PORT;
      const outcome = await runAction(connectionSpec(`redis://:${PASSWORD}@127.0.0.1:${port}`));
      expectFailed(
        outcome,
        `::error::connection refused by redis://127.0.0.1:${port}: is Redis running`,
      );
    });

    test('a server that accepts and never answers: timeout', async () => {
      const silent = await startTcpServer();
      try {
        const url = `redis://:${PASSWORD}@127.0.0.1:${silent.port}`;
        const outcome = await runAction(connectionSpec(url, { timeout: '1' }));
        expectFailed(outcome, `::error::no answer from redis://127.0.0.1:${silent.port} within 1s`);
      } finally {
        await silent.stop();
      }
    });

    test('a server that connects and then does not answer the promotion: timeout', async () => {
      const paused = await startRedisServer();
      const admin = testClient(paused.url);
      try {
        // Writes (scripts, MULTI) wait while connecting, HELLO and SELECT go through. The
        // pause outlasts the run whatever the machine's speed; UNPAUSE ends it.
        await admin.call('CLIENT', 'PAUSE', '600000', 'WRITE');
        // Long enough that connecting never is what times out.
        const outcome = await runAction(
          connectionSpec(paused.url, { timeout: '3', 'prp-id': 'PRP-1' }),
        );
        expectFailed(
          outcome,
          `::error::the promotion at ${paused.url} got no answer within 3s; re-run to learn whether it happened`,
        );
      } finally {
        await admin.call('CLIENT', 'UNPAUSE').catch(() => undefined);
        admin.disconnect();
        await paused.stop();
      }
    });

    test('a password written alone, as the user (redis://SECRET@host): never shown, not even when no answer comes', async () => {
      const paused = await startRedisServer();
      const admin = testClient(paused.url);
      try {
        // A user named like a secret, as ioredis reads redis://SECRET@host; then no answer.
        await admin.call('ACL', 'SETUSER', PASSWORD, 'on', 'nopass', '~*', '&*', '+@all');
        await admin.call('CLIENT', 'PAUSE', '600000', 'WRITE');
        const outcome = await runAction(
          connectionSpec(`redis://${PASSWORD}@127.0.0.1:${paused.port}`, {
            timeout: '2',
            'prp-id': 'PRP-1',
          }),
        );
        expectFailed(
          outcome,
          `::error::the promotion at redis://***@127.0.0.1:${paused.port} got no answer within 2s; re-run to learn whether it happened`,
        );
        expect(outcome.stdout).toContain(`::add-mask::${PASSWORD}`);
      } finally {
        await admin.call('CLIENT', 'UNPAUSE').catch(() => undefined);
        admin.disconnect();
        await paused.stop();
      }
    });

    test('a connection that drops after Redis ran the promotion: says so, never sends it again', async () => {
      const server = await startRedisServer();
      const admin = testClient(server.url);
      const proxy = await startCuttingProxy(server.port, 'EVALSHA');
      try {
        await seedPrp(admin, 'prp', 'PRP-1', 'integration', 3);
        await loadScript(admin); // so the cut EVALSHA is one Redis runs
        proxy.arm();
        const spec = connectionSpec(`redis://127.0.0.1:${proxy.port}`, { 'prp-id': 'PRP-1' });
        expectFailed(
          await runAction(spec),
          `::error::the promotion at redis://127.0.0.1:${proxy.port} lost its connection before ` +
            'the answer came; re-run to learn whether it happened',
        );
        // It happened, once; the re-run the message asks for says so.
        expect(await admin.hget('{prp}:prp:PRP-1', 'version')).toBe('4');
        expect(await admin.xlen('{prp}:events')).toBe(1);
        const rerun = await runAction(
          connectionSpec(`redis://127.0.0.1:${proxy.port}`, { 'prp-id': 'PRP-1' }),
        );
        expect(rerun.outputs.result).toBe('already');
      } finally {
        admin.disconnect();
        await proxy.stop();
        await server.stop();
      }
    });
  });
}
