import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { vi } from 'vitest';
import { startRedisServer, type RedisServer } from '../../scripts/support/redisServer.js';

/**
 * A redis-server whose default user is off, as a hardened server has it, with an admin to set
 * one user's rules and read ACL LOG: how test/acl checks each rule file of docs/ both ways.
 */

/** A rule file of docs/ (acl-rules.txt, acl-rules-read.txt, ...) as ACL SETUSER arguments. */
export const rulesOf = (file: string): string[] =>
  readFileSync(new URL(`../../docs/${file}`, import.meta.url), 'utf8')
    .trim()
    .split(/\s+/);

/**
 * Rules only a cluster with replicas needs: the cluster client sends READONLY on each connection
 * to a replica and READWRITE to a replica that became a primary. A one-node cluster has none,
 * so test/cluster/recipe.cluster.test.ts checks them, on three primaries and three replicas.
 */
export const REPLICA_RULES = ['+readonly', '+readwrite'];

export interface AclServer {
  server: RedisServer;
  admin: Redis;
  /** The user's URL, with a database other than 0 on a plain server (needs SELECT). */
  url: string;
  cluster: boolean;
  user: string;
  password: string;
}

export async function startAclServer(
  cluster: boolean,
  user: string,
  password: string,
): Promise<AclServer> {
  const server = await startRedisServer({ cluster });
  const clients: Redis[] = [];
  try {
    const first = new Redis(server.url);
    clients.push(first);
    await first.call('ACL', 'SETUSER', 'admin', 'on', '>admin-secret', '~*', '&*', '+@all');
    await first.call('ACL', 'SETUSER', 'default', 'off');
    first.disconnect();
    const admin = new Redis(`redis://admin:admin-secret@127.0.0.1:${server.port}`);
    clients.push(admin);
    await admin.ping();
    const auth = `${user}:${password}@127.0.0.1:${server.port}`;
    const url = cluster ? `redis://${auth}` : `redis://${auth}/1`;
    return { server, admin, url, cluster, user, password };
  } catch (error) {
    for (const client of clients) client.disconnect();
    await server.stop();
    throw error;
  }
}

/** The user's rules, from nothing. */
export const setUser = (s: AclServer, rules: string[]): Promise<unknown> =>
  s.admin.call('ACL', 'SETUSER', s.user, 'reset', `>${s.password}`, ...rules);

/** ACL LOG's denied objects (command names, or key names for key denials), then cleared. */
export async function takeDenials(s: AclServer): Promise<string[]> {
  const entries = (await s.admin.call('ACL', 'LOG')) as string[][];
  await s.admin.call('ACL', 'LOG', 'RESET');
  return (
    entries
      .map((entry) => entry[entry.indexOf('object') + 1]!)
      // Redis 7.2+ gets CLIENT SETINFO from ioredis; 7.0 cannot name it in a rule (docs/acl.md).
      .filter((object) => object !== 'client|setinfo')
  );
}

/** The cluster client's rules: they matter only on a cluster, the rest on the plain server. */
const CLUSTER_RULES = ['+cluster|slots', '+client|setname'];

/**
 * The command rules of `rules` that a run on this server needs, each tested by its absence:
 * not the cluster client's off a cluster (the plain server's URL names a database, so SELECT
 * is needed there instead), nor the replicas' (REPLICA_RULES).
 */
export const commandRulesFor = (rules: readonly string[], cluster: boolean): string[] =>
  rules.filter(
    (r) => r.startsWith('+') && CLUSTER_RULES.includes(r) === cluster && !REPLICA_RULES.includes(r),
  );

/** The denials `exercise` leaves in ACL LOG when the user has `rules` but `rule`. */
export async function denialsWithout(
  s: AclServer,
  rules: readonly string[],
  rule: string,
  exercise: (s: AclServer) => Promise<unknown>,
): Promise<string[]> {
  await setUser(
    s,
    rules.filter((r) => r !== rule),
  );
  await takeDenials(s);
  // Without INFO, ioredis warns that it skips its ready check; that warning is expected.
  const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
  try {
    await exercise(s);
  } finally {
    warn.mockRestore();
  }
  return takeDenials(s);
}
