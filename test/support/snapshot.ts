import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/** A namespace no other test uses, so test files can share one server. */
export const uniqueNamespace = (): string => `t-${randomUUID().slice(0, 12)}`;

export interface KeySnapshot {
  type: string;
  /** DUMP of the value, hex: equal bytes mean equal values, whatever the type. */
  value: string;
  /** Absolute expiry in ms (PEXPIRETIME), -1 for none: stable while time passes. */
  expiresAt: number;
}

/** These keys, each with its type, value and expiry (a missing key: type none, expiry -2). */
export async function snapshotKeys(
  redis: Redis,
  keys: readonly string[],
): Promise<Record<string, KeySnapshot>> {
  const snapshot: Record<string, KeySnapshot> = {};
  for (const key of [...keys].sort()) {
    const [type, dump, expiresAt] = await Promise.all([
      redis.type(key),
      redis.dumpBuffer(key),
      redis.call('PEXPIRETIME', key) as Promise<number>,
    ]);
    snapshot[key] = { type, value: dump?.toString('hex') ?? '', expiresAt: Number(expiresAt) };
  }
  return snapshot;
}

/** Every key of a namespace with its type, value and expiry. */
export async function snapshotNamespace(
  redis: Redis,
  namespace: string,
): Promise<Record<string, KeySnapshot>> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `{${namespace}}:*`, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return snapshotKeys(redis, keys);
}
