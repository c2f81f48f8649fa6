import { describe, expect, it } from 'vitest';
import { ConnectionError, parseRedisTarget } from '../../src/core/index.js';
import { parseRedisUrl, urlSecrets } from '../../src/core/connection.js';

// The Redis URL's corners: what ioredis would quietly misread is refused plainly, and every
// form a secret takes in it is known, so it can be masked.
describe('Redis URL corners', () => {
  it('refuses a query or fragment rather than ignore it (?tls=true would connect in plain text)', () => {
    for (const url of ['redis://h:6379?tls=true', 'redis://h/0?password=x', 'redis://h#x']) {
      expect(() => parseRedisUrl(url)).toThrow(ConnectionError);
      expect(() => parseRedisUrl(url)).toThrow(/query or fragment/);
    }
  });

  it('a literal % in the password: a ConnectionError saying how to write it, and still masked', () => {
    const url = 'redis://user:100%@h:6379';
    expect(() => parseRedisUrl(url)).toThrow(
      new ConnectionError("the Redis URL's password is badly percent-encoded: write % as %25"),
    );
    expect(urlSecrets(url)).toEqual(['100%']);
  });

  it('a user name with no password is treated as the secret it usually is (redis://SECRET@h)', () => {
    expect(urlSecrets('redis://s3cret-token@h:6379')).toEqual(['s3cret-token']);
    expect(urlSecrets('redis://prp:pa%40ss@h')).toEqual(['pa%40ss', 'pa@ss']);
    expect(urlSecrets('redis://h:6379')).toEqual([]);
  });
});

describe('parseRedisTarget: a redis-url value parsed once', () => {
  it('gives where to connect, how to log in, what to show and what to hide', () => {
    const seeds = 'rediss://bob:pa%40ss@h1:7000, rediss://bob:pa%40ss@h2:7001';
    expect(parseRedisTarget(seeds, true)).toEqual({
      seeds: [
        { host: 'h1', port: 7000 },
        { host: 'h2', port: 7001 },
      ],
      cluster: true,
      tls: true,
      username: 'bob',
      password: 'pa@ss',
      db: 0,
      display: 'rediss://bob:***@h1:7000, rediss://bob:***@h2:7001',
      secrets: ['pa%40ss', 'pa@ss'],
    });
    expect(parseRedisTarget('redis://h/2')).toEqual({
      seeds: [{ host: 'h', port: 6379 }],
      cluster: false,
      tls: false,
      db: 2,
      display: 'redis://h/2',
      secrets: [],
    });
  });

  it('refuses what parseRedisSeeds refuses, with its words, which never repeat the URL', () => {
    expect(() => parseRedisTarget('redis://:s3cret@a:1 redis://:s3cret@b:2')).toThrow(
      new ConnectionError(
        'holds 2 URLs; several URLs are seed nodes of one Redis Cluster and need cluster: true',
      ),
    );
  });
});
