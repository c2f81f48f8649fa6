import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REFUSAL_CODES } from '../../src/core/errors.js';
import { promote, promotionCall } from '../../src/core/promote.js';
import {
  loadScript,
  promoteScript,
  promoteScriptSha,
  runPromoteScript,
  type RedisClient,
} from '../../src/core/script.js';
import {
  expectPromotionWritten,
  expectUnchanged,
  observe,
  replyOf,
} from '../support/promotionChecks.js';
import {
  startRedisServer,
  testClient,
  type RedisServer,
} from '../../scripts/support/redisServer.js';
import { goodRequest, seedNamespace, seedPrp } from '../support/seed.js';
import { snapshotNamespace, uniqueNamespace } from '../support/snapshot.js';

// The script's loader and runner, on a server of this file's own: SCRIPT FLUSH and the
// error counters are server-wide, and other files rely on the shared server's script cache.

const SCRIPT_FILE = new URL('../../lua/promote.lua', import.meta.url);
let server: RedisServer;
let redis: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  redis = testClient(server.url);
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});

/** INFO section `section` as name -> value. */
async function info(section: string): Promise<Record<string, string>> {
  const text = await redis.info(section);
  return Object.fromEntries(
    text
      .split('\r\n')
      .filter((line) => line.includes(':'))
      .map((line) => {
        const at = line.indexOf(':');
        return [line.slice(0, at), line.slice(at + 1)];
      }),
  );
}

const errorCount = async (code: string) =>
  Number(/count=(\d+)/.exec((await info('errorstats'))[`errorstat_${code}`] ?? '')?.[1] ?? 0);

describe('loading', () => {
  it('the local script and SHA are what "$(cat lua/promote.lua)" gives, computed by the shell', () => {
    // Command substitution drops the file's trailing newlines; sha1sum hashes what remains.
    const shell = (command: string) =>
      execFileSync('bash', ['-c', command, 'shell', SCRIPT_FILE.pathname], { encoding: 'utf8' });
    expect(promoteScript()).toBe(shell('printf %s "$(cat "$1")"'));
    expect(promoteScriptSha()).toBe(shell('printf %s "$(cat "$1")" | sha1sum').split(' ')[0]);
    // Loadable as it is on Redis 6.2 as well: no shebang line, no flags.
    expect(promoteScript().startsWith('#!')).toBe(false);
  });

  it('loadScript returns the local SHA, the one redis-cli SCRIPT LOAD "$(cat ...)" gets', async () => {
    await redis.script('FLUSH');
    expect(await loadScript(redis)).toBe(promoteScriptSha());
    // The contract's own words, through a shell: the operator's SCRIPT LOAD and the library's
    // EVALSHA must name the same cached script.
    const cli = execFileSync(
      'bash',
      [
        '-c',
        `redis-cli -h 127.0.0.1 -p ${server.port} SCRIPT LOAD "$(cat "$1")"`,
        'load',
        SCRIPT_FILE.pathname,
      ],
      { encoding: 'utf8' },
    ).trim();
    expect(cli).toBe(promoteScriptSha());
    expect(await redis.script('EXISTS', promoteScriptSha())).toEqual([1]);
  });

  it("the docs give the command that computes script-sha, and say the file's own SHA differs", async () => {
    // What README.md, docs/CONTRACT.md and action.yml tell a user to run, run here as written.
    const documented = `printf '%s' "$(cat lua/promote.lua)" | sha1sum`;
    const root = new URL('../../', import.meta.url);
    for (const file of ['README.md', 'docs/CONTRACT.md', 'action.yml']) {
      expect(readFileSync(new URL(file, root), 'utf8'), file).toContain(documented);
    }
    const run = (command: string, input?: Buffer) =>
      execFileSync('bash', ['-c', command], {
        cwd: root.pathname,
        encoding: 'utf8',
        ...(input ? { input } : {}),
      }).trim();
    expect(run(documented).split(' ')[0]).toBe(promoteScriptSha());
    // The file as it is, trailing newline and all, is another script with another SHA: what
    // sha1sum, redis-cli -x and redis-py's register_script(open(...).read()) send or hash.
    const fileSha = run('sha1sum lua/promote.lua').split(' ')[0];
    expect(fileSha).toMatch(/^[0-9a-f]{40}$/);
    expect(fileSha).not.toBe(promoteScriptSha());
    expect(
      run(`redis-cli -h 127.0.0.1 -p ${server.port} -x SCRIPT LOAD`, readFileSync(SCRIPT_FILE)),
    ).toBe(fileSha);
  });

  it('loadScript refuses a server that answers with another SHA', async () => {
    const lying = { script: async () => 'f'.repeat(40) } as unknown as RedisClient;
    await expect(loadScript(lying)).rejects.toThrow(
      `SCRIPT LOAD returned ${'f'.repeat(40)}, expected ${promoteScriptSha()}`,
    );
  });
});

/** A request with GOOD_EVIDENCE and token t, so promotionCall() names the keys promote() uses. */
// A token per target: a move never overwrites an earlier move's evidence (PRP_EVIDENCE_EXISTS).
const request = (ns: string, id: string, to: string) => goodRequest(ns, id, to, `t-${to}`);

describe('running', () => {
  it('after SCRIPT FLUSH between calls, promote gets NOSCRIPT, loads the script and succeeds', async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-1', 'pending', 0);
    await loadScript(redis);
    expect((await promote(redis, request(ns, 'PRP-1', 'development'))).result).toBe('promoted');

    await redis.script('FLUSH');
    const noscript = await errorCount('NOSCRIPT');
    const call = promotionCall(request(ns, 'PRP-1', 'integration'));
    const before = await observe(redis, ns, call.keys);
    const result = await promote(redis, request(ns, 'PRP-1', 'integration'));
    await expectPromotionWritten(redis, before, call.args, replyOf(result));
    // EVALSHA was refused once (NOSCRIPT), and the EVAL retry put the script back in the cache.
    expect(await errorCount('NOSCRIPT')).toBe(noscript + 1);
    expect(await redis.script('EXISTS', promoteScriptSha())).toEqual([1]);

    // With the script cached again, no NOSCRIPT at all.
    expect((await promote(redis, request(ns, 'PRP-1', 'validate'))).result).toBe('promoted');
    expect(await errorCount('NOSCRIPT')).toBe(noscript + 1);
  });

  it('a refusal after NOSCRIPT is still the refusal (the retry runs the same checks)', async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-3', 'pending', 0);
    await redis.script('FLUSH');
    const before = await observe(
      redis,
      ns,
      promotionCall(request(ns, 'PRP-2', 'development')).keys,
    );
    await expect(promote(redis, request(ns, 'PRP-2', 'development'))).rejects.toMatchObject({
      code: 'PRP_NOT_FOUND',
    });
    await expectUnchanged(redis, before);
  });

  it('errors other than NOSCRIPT are not retried', async () => {
    let calls = 0;
    const failing = {
      evalsha: async () => {
        calls++;
        throw new Error('READONLY You cannot write against a read only replica.');
      },
      eval: async () => {
        throw new Error('must not be called');
      },
    } as unknown as RedisClient;
    await expect(runPromoteScript(failing, ['k'], ['a'])).rejects.toThrow(/^READONLY/);
    expect(calls).toBe(1);
  });
});

describe('INFO errorstats counts every refusal code the script returns', () => {
  it('counts each PRP_ code once per refusal', async () => {
    const ns = uniqueNamespace();
    await seedNamespace(redis, ns, {
      prp: { id: 'PRP-1', fields: { status: 'integration', version: '2' } },
      keys: [
        { key: '{$NS}:prp:PRP-W', type: 'string', value: 'x' },
        { key: '{$NS}:evidence:PRP-E:t-validate', type: 'string', value: '{"earlier":true}' },
      ],
    });
    await seedNamespace(redis, ns, {
      prp: { id: 'PRP-E', fields: { status: 'integration', version: '2' } },
    });
    await seedNamespace(redis, ns, {
      prp: { id: 'PRP-V', fields: { status: 'integration', version: 'x' } },
    });
    // A namespace of its own: its stream's last id is the largest possible.
    const exhausted = uniqueNamespace();
    await seedPrp(redis, exhausted, 'PRP-1', 'integration');
    await redis.xadd(
      `{${exhausted}}:events`,
      '18446744073709551615-18446744073709551615',
      'x',
      '1',
    );
    await loadScript(redis);
    const refusals: [string, () => Promise<unknown>][] = [
      ['PRP_BAD_ARGUMENT', () => runPromoteScript(redis, [], [])],
      [
        'PRP_INVALID_TRANSITION',
        () => promote(redis, { ...request(ns, 'PRP-1', 'complete'), from: 'pending' }),
      ],
      [
        'PRP_EVIDENCE_INVALID',
        () => promote(redis, { ...request(ns, 'PRP-1', 'validate'), evidence: '[]' }),
      ],
      ['PRP_NOT_FOUND', () => promote(redis, request(ns, 'PRP-404', 'validate'))],
      ['PRP_STATE_MISMATCH', () => promote(redis, request(ns, 'PRP-1', 'development'))],
      [
        'PRP_VERSION_CONFLICT',
        () => promote(redis, { ...request(ns, 'PRP-1', 'validate'), expectedVersion: 1 }),
      ],
      ['PRP_WRONG_TYPE', () => promote(redis, request(ns, 'PRP-W', 'validate'))],
      ['PRP_WRONG_TYPE', () => promote(redis, request(ns, 'PRP-V', 'validate'))],
      ['PRP_EVENTS_EXHAUSTED', () => promote(redis, request(exhausted, 'PRP-1', 'validate'))],
      ['PRP_EVIDENCE_EXISTS', () => promote(redis, request(ns, 'PRP-E', 'validate'))],
    ];
    const before = Object.fromEntries(
      await Promise.all(REFUSAL_CODES.map(async (code) => [code, await errorCount(code)] as const)),
    );
    for (const [code, refuse] of refusals) {
      const before = [
        await snapshotNamespace(redis, ns),
        await snapshotNamespace(redis, exhausted),
      ];
      await expect(refuse()).rejects.toThrow(new RegExp(`^${code} `));
      const after = [await snapshotNamespace(redis, ns), await snapshotNamespace(redis, exhausted)];
      expect(after, code).toEqual(before);
    }
    for (const code of REFUSAL_CODES) {
      const expected = refusals.filter(([c]) => c === code).length;
      expect(await errorCount(code), code).toBe(before[code]! + expected);
    }
  });
});
