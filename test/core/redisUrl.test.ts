import { describe, expect, it } from 'vitest';
import { ConnectionError, parseRedisUrl, urlSecrets } from '../../src/core/index.js';

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
