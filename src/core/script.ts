import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Redis, Cluster } from 'ioredis';
import { NotRunError } from './errors.js';
import { isKeyDenied, keyDenied, whichKeyDenied } from './keyAccess.js';

/** A connected ioredis client: a single server or a cluster. */
export type RedisClient = Redis | Cluster;

/** The script's text and SHA, read on first use (see promoteScript). */
let loaded: { text: string; sha: string } | undefined;

function loadedScript(): { text: string; sha: string } {
  if (!loaded) {
    // ncc sees this URL and copies lua/promote.lua beside each bundle as an asset.
    const text = readFileSync(new URL('../../lua/promote.lua', import.meta.url), 'utf8').replace(
      /\n+$/,
      '',
    );
    loaded = { text, sha: createHash('sha1').update(text).digest('hex') };
  }
  return loaded;
}

/**
 * The promotion script's source, read from lua/promote.lua (ncc copies it beside dist/) on
 * first use, not at import: the status and health entries never run it. Without its trailing
 * newlines: the contract loads it with `redis-cli SCRIPT LOAD "$(cat lua/promote.lua)"`, and
 * command substitution drops them, so this is the text (and the SHA) every client caches.
 */
export const promoteScript = (): string => loadedScript().text;

/** SHA1 of the script, computed locally: what EVALSHA names and what SCRIPT LOAD must return. */
export const promoteScriptSha = (): string => loadedScript().sha;

/**
 * Loads the script with SCRIPT LOAD and checks that the server's SHA is the local one (a
 * mismatch means the bytes sent are not the bytes hashed: a proxy or encoding changed them).
 */
export async function loadScript(redis: RedisClient): Promise<string> {
  const sha = String(await redis.script('LOAD', promoteScript()));
  if (sha !== promoteScriptSha()) {
    // Loading writes no key of a namespace; the move was not sent.
    throw new NotRunError(`SCRIPT LOAD returned ${sha}, expected ${promoteScriptSha()}`);
  }
  return sha;
}

const isNoScript = (error: unknown): boolean =>
  error instanceof Error && error.message.startsWith('NOSCRIPT');

/**
 * Runs the script by EVALSHA. On NOSCRIPT (a restart, a failover, SCRIPT FLUSH) it retries
 * once with EVAL, which loads the script into the cache and runs it in one round trip, on the
 * node that owns the keys' slot when this is a cluster. A NOPERM for one of the keys (Redis
 * checks that one key pattern grants read and write on each) names the key (keyAccess.ts).
 */
export async function runPromoteScript(
  redis: RedisClient,
  keys: readonly string[],
  args: readonly (string | number | Buffer)[],
): Promise<string> {
  try {
    try {
      return String(await redis.evalsha(promoteScriptSha(), keys.length, ...keys, ...args));
    } catch (error) {
      if (!isNoScript(error)) throw error;
      return String(await redis.eval(promoteScript(), keys.length, ...keys, ...args));
    }
  } catch (error) {
    // Refused for a key before the script started: which one (Redis does not say).
    if (isKeyDenied(error)) throw keyDenied(error as Error, await whichKeyDenied(redis, keys));
    throw error;
  }
}
