import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/** A namespace no other test uses, so test files can share one server. */
export const uniqueNamespace = (): string => `t-${randomUUID().slice(0, 12)}`;

export interface KeySnapshot {
  type: string;
  /**
   * DUMP of the value, hex: equal bytes mean equal values, whatever the type. Hashes and
   * sets are the exception: in hashtable encoding (a hash gets it once a value passes 64
   * bytes, as a PRP's evidence_key does) DUMP lists them in the table's order, which a read
   * may change (it moves an incremental rehash along). Those are their members, sorted.
   */
  value: string;
  /** Absolute expiry in ms (PEXPIRETIME), -1 for none: stable while time passes. */
  expiresAt: number;
}

/** A hash's field-value pairs or a set's members, hex, sorted; undefined for other types. */
async function unorderedMembers(
  redis: Redis,
  key: string,
  type: string,
): Promise<string | undefined> {
  if (type === 'hash') {
    const flat = (await redis.callBuffer('HGETALL', key)) as Buffer[];
    const pairs = flat.flatMap((field, i) =>
      i % 2 === 0 ? [`${field.toString('hex')}=${flat[i + 1]!.toString('hex')}`] : [],
    );
    return `hash ${pairs.sort().join(' ')}`;
  }
  if (type === 'set') {
    const members = await redis.smembersBuffer(key);
    return `set ${members
      .map((m) => m.toString('hex'))
      .sort()
      .join(' ')}`;
  }
  return undefined;
}

/** These keys, each with its type, value and expiry (a missing key: type none, expiry -2). */
export async function snapshotKeys(
  redis: Redis,
  keys: readonly string[],
): Promise<Record<string, KeySnapshot>> {
  const snapshot: Record<string, KeySnapshot> = {};
  // All keys at once: the commands share the connection's pipe, a few round trips in all.
  const sorted = [...keys].sort();
  const entries = await Promise.all(
    sorted.map(async (key) => {
      const [type, dump, expiresAt] = await Promise.all([
        redis.type(key),
        redis.dumpBuffer(key),
        redis.call('PEXPIRETIME', key) as Promise<number>,
      ]);
      const value = await unorderedMembers(redis, key, type);
      return { type, value: value ?? dump?.toString('hex') ?? '', expiresAt: Number(expiresAt) };
    }),
  );
  sorted.forEach((key, i) => (snapshot[key] = entries[i]!));
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
