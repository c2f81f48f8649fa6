import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { connectRedis, closeRedis } from '../../src/core/connection.js';
import { promote } from '../../src/core/promote.js';
import type { RedisClient } from '../../src/core/script.js';
import { uniqueNamespace } from '../support/snapshot.js';

/** The fallback (read -> decide -> write) against the script on odd hashes: same verdict, message, reply. */
let redis: RedisClient;
beforeAll(async () => {
  redis = await connectRedis(inject('redisUrl'));
});
afterAll(() => closeRedis(redis));

const states: Record<string, Record<string, string>> = {
  'no status': { version: '3' },
  'version -0': { status: 'validate', version: '-0' },
  'version " 1"': { status: 'validate', version: ' 1' },
  'version 01': { status: 'validate', version: '01' },
  'version +1': { status: 'validate', version: '+1' },
  'version -7': { status: 'validate', version: '-7' },
  'version 15 nines': { status: 'validate', version: '999999999999999' },
  'already, huge updated_at': { status: 'complete', version: '4', updated_at: '9'.repeat(16) },
  'already, updated_at 0123': { status: 'complete', version: '-0', updated_at: '0123' },
  'already, odd evidence_key': {
    status: 'complete',
    version: '2',
    updated_at: '1700000000000',
    evidence_key: 'k/\u0001"\\\u00e9\n\u007f',
  },
  'status with CRLF': { status: 'vali\r\ndate' },
  'only a foreign field': { owner: 'x' },
};

async function outcome(
  mode: 'lua' | 'multi',
  hash: Record<string, string>,
  expectedVersion?: number,
) {
  const ns = uniqueNamespace();
  await (redis as import('ioredis').Redis).hset(`{${ns}}:prp:PRP-1`, hash);
  try {
    const r = await promote(
      redis,
      {
        namespace: ns,
        id: 'PRP-1',
        to: 'complete',
        token: 't',
        dryRun: true,
        evidence: { quality_gates_passed: true, validator_approval: 'ok' },
        ...(expectedVersion === undefined ? {} : { expectedVersion }),
      },
      { mode },
    );
    // The mode differs by design; the time is the server's unless `already` reads it back.
    const at = r.result === 'already' && String(r.at) === hash.updated_at ? r.at : 'now';
    return { ...r, mode: 'either', at, evidenceKey: r.evidenceKey.replace(ns, 'NS') };
  } catch (error) {
    return {
      error: String((error as Error).message)
        .split(ns)
        .join('NS'),
    };
  }
}

describe('decide() and the script agree on odd hash states', () => {
  for (const [name, hash] of Object.entries(states)) {
    for (const expected of [undefined, 0, 1]) {
      test(`${name}, expected ${expected}`, async () => {
        expect(await outcome('multi', hash, expected)).toEqual(
          await outcome('lua', hash, expected),
        );
      });
    }
  }
});
