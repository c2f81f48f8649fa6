import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  closeRedis,
  ConnectionError,
  connectRedis,
  describeRedisError,
  parseRedisSeeds,
  parseRedisUrl,
  redactUrl,
  scrubSecrets,
  splitRedisUrls,
  urlSecrets,
  withRedis,
} from '../../src/core/connection.js';
import {
  REFUSED_PORT,
  startRedisServer,
  type RedisServer,
} from '../../scripts/support/redisServer.js';
import { startTcpServer, type TcpServer } from '../support/tcpServer.js';

// The connection factory for short-lived processes: it must end, in time, with a message a
// person can act on, and never print the password. Nothing here asserts how long things take;
// the test timeout is what catches a hang.

const PASSWORD = 'hunter2-Qz7x%40pw';
const DECODED_PASSWORD = 'hunter2-Qz7x@pw';

const failure = (work: Promise<unknown>) =>
  work.then(
    () => {
      throw new Error('expected a ConnectionError');
    },
    (error: unknown) => {
      expect(error).toBeInstanceOf(ConnectionError);
      return (error as ConnectionError).message;
    },
  );

/** Resolves once the client's connection is closed for good ('end'). */
const ended = (client: Awaited<ReturnType<typeof connectRedis>>) =>
  client.status === 'end'
    ? Promise.resolve()
    : new Promise((resolve) => client.once('end', resolve));

describe('connectRedis against a real server', () => {
  const url = inject('redisUrl');

  it('connects, runs commands, and closes', async () => {
    const client = await connectRedis(url, { timeoutMs: 5000 });
    expect(await client.ping()).toBe('PONG');
    await closeRedis(client);
    await ended(client);
  });

  it('withRedis closes the connection after the work, and after a failure too', async () => {
    let seen: Awaited<ReturnType<typeof connectRedis>> | undefined;
    expect(
      await withRedis(url, {}, async (client) => {
        seen = client;
        return client.ping();
      }),
    ).toBe('PONG');
    await ended(seen!);
    await expect(
      withRedis(url, {}, async (client) => {
        seen = client;
        throw new Error('work failed');
      }),
    ).rejects.toThrow('work failed');
    await ended(seen!);
  });

  it('closeRedis on a connection that is already gone does not throw', async () => {
    const client = await connectRedis(url);
    client.disconnect();
    await expect(closeRedis(client)).resolves.toBeUndefined();
    await ended(client);
  });

  it('no offline queue: a command while reconnecting fails at once, not queued', async () => {
    // A server of its own, to take away under a connected client.
    const server = await startRedisServer();
    const client = await connectRedis(server.url, { maxRetries: 1000 });
    try {
      const reconnecting = new Promise((resolve) => client.once('reconnecting', resolve));
      await server.stop();
      await reconnecting;
      expect(client.status).not.toBe('end');
      // A queued command would wait for the server (and the test timeout) instead.
      await expect(client.ping()).rejects.toThrow(
        "Stream isn't writeable and enableOfflineQueue options is false",
      );
    } finally {
      client.disconnect();
      await server.stop();
    }
  });

  it('a database number in the URL selects it', async () => {
    const client = await connectRedis(`${url}/3`);
    try {
      const listing = await client.call('CLIENT', 'INFO');
      expect(String(listing)).toMatch(/ db=3 /);
    } finally {
      await closeRedis(client);
    }
  });

  it('a database the server does not have fails plainly, never falling back to 0', async () => {
    const message = await failure(connectRedis(`${url}/99`, { timeoutMs: 3000 }));
    expect(message).toMatch(/^cannot use database 99 \(from the Redis URL\): .*out of range/);
  });

  it('a database other than 0 in cluster mode fails before connecting', async () => {
    const message = await failure(connectRedis(`${url}/2`, { cluster: true, timeoutMs: 3000 }));
    expect(message).toBe(
      'cannot use database 2 (from the Redis URL): a Redis Cluster has only database 0',
    );
  });

  it('cluster mode against a server without cluster support fails with a ConnectionError', async () => {
    const message = await failure(
      connectRedis(url, { cluster: true, timeoutMs: 3000, maxRetries: 0 }),
    );
    // REDIS_URL may name the shared server by any host (CI: localhost).
    expect(message).toMatch(/redis:\/\/\S+:\d+/);
    expect(message).toContain(new URL(url).host);
  });
});

describe('connectRedis on a Redis it cannot use', () => {
  let secured: RedisServer;
  let silent: TcpServer;
  let plain: TcpServer;
  beforeAll(async () => {
    secured = await startRedisServer({ args: ['--requirepass', DECODED_PASSWORD] });
    // Accepts and never answers: a Redis that hangs.
    silent = await startTcpServer();
    // Answers a TLS hello in plain text, as a Redis without TLS does.
    plain = await startTcpServer((socket) => socket.end('-ERR this is no TLS server\r\n'));
  });
  afterAll(async () => {
    await silent?.stop();
    await plain?.stop();
    await secured?.stop();
  });

  it('a refused port: says refused, and where', async () => {
    const port = REFUSED_PORT;
    const message = await failure(
      connectRedis(`redis://127.0.0.1:${port}`, { timeoutMs: 3000, maxRetries: 0 }),
    );
    expect(message).toBe(
      `connection refused by redis://127.0.0.1:${port}: is Redis running and listening there?`,
    );
  });

  it('a refused port with retries still ends, with the same message', async () => {
    const port = REFUSED_PORT;
    const message = await failure(
      connectRedis(`redis://127.0.0.1:${port}`, { timeoutMs: 5000, maxRetries: 1 }),
    );
    expect(message).toMatch(/^connection refused by /);
  });

  it('a wrong password: an authentication message, without the password', async () => {
    const url = `redis://:wrong-${PASSWORD}@127.0.0.1:${secured.port}`;
    const message = await failure(connectRedis(url, { timeoutMs: 3000, maxRetries: 0 }));
    expect(message).toBe(
      `authentication failed at redis://127.0.0.1:${secured.port} for user default: check the user and password in the Redis URL`,
    );
    expect(message).not.toContain(PASSWORD);
    expect(message).not.toContain(DECODED_PASSWORD);
  });

  it('a user that does not exist: the message names the user, not the password', async () => {
    const url = `redis://alice:${PASSWORD}@127.0.0.1:${secured.port}`;
    const message = await failure(connectRedis(url, { timeoutMs: 3000, maxRetries: 0 }));
    expect(message).toMatch(/^authentication failed at .* for user alice:/);
    expect(message).not.toContain(DECODED_PASSWORD);
  });

  it('no password for a server that wants one: an authentication message', async () => {
    const message = await failure(
      connectRedis(`redis://127.0.0.1:${secured.port}`, { timeoutMs: 3000, maxRetries: 0 }),
    );
    expect(message).toMatch(/^authentication failed at /);
  });

  it('the right password (percent-encoded in the URL) connects', async () => {
    const url = `redis://:${PASSWORD}@127.0.0.1:${secured.port}`;
    await expect(withRedis(url, { timeoutMs: 3000 }, (client) => client.ping())).resolves.toBe(
      'PONG',
    );
  });

  const clusterTls = () => `rediss://127.0.0.1:${plain.port}`;
  const clusterOptions = { cluster: true, timeoutMs: 3000, maxRetries: 0 };

  it('TLS (rediss://) to a server that does not speak it: a TLS message', async () => {
    const message = await failure(
      connectRedis(`rediss://127.0.0.1:${plain.port}`, { timeoutMs: 3000, maxRetries: 0 }),
    );
    expect(message).toMatch(
      new RegExp(`^TLS handshake with rediss://127\\.0\\.0\\.1:${plain.port} failed: `),
    );
    // A cluster client over TLS fails too, as a ConnectionError naming where and what its
    // node saw (the TLS error itself stays inside ioredis's node connection).
    const clusterMessage = await failure(connectRedis(clusterTls(), clusterOptions));
    expect(clusterMessage.startsWith(`Redis at rediss://127.0.0.1:${plain.port} failed: `)).toBe(
      true,
    );
    expect(clusterMessage).not.toContain('Failed to refresh slots cache'); // ioredis's, not why
  });

  it('rediss:// to a plain redis-server, which waits for the TLS hello to end: says TLS, not no answer', async () => {
    const plainRedis = await startRedisServer();
    try {
      const { port } = plainRedis;
      const message = await failure(
        connectRedis(`rediss://127.0.0.1:${port}`, { timeoutMs: 1000, maxRetries: 0 }),
      );
      expect(message).toBe(
        `TLS handshake with rediss://127.0.0.1:${port} failed: no TLS answer within 1s; the ` +
          'server may not speak TLS (use redis:// for a server without TLS)',
      );
    } finally {
      await plainRedis.stop();
    }
  });

  it('a server that accepts and never answers: fails within the timeout, saying so', async () => {
    const { port } = silent;
    const message = await failure(
      connectRedis(`redis://127.0.0.1:${port}`, { timeoutMs: 300, maxRetries: 0 }),
    );
    expect(message).toBe(`no answer from redis://127.0.0.1:${port} within 0.3s`);
  });
});

describe('URLs', () => {
  it('scrubSecrets replaces every secret, the longer first when one holds another', () => {
    expect(scrubSecrets('a pass and a password: password', ['pass', 'password', ''])).toBe(
      'a *** and a ***: ***',
    );
  });

  it('redactUrl hides the password and keeps the rest', () => {
    expect(redactUrl(`redis://bob:${PASSWORD}@redis.example.com:6380/2`)).toBe(
      'redis://bob:***@redis.example.com:6380/2',
    );
    expect(redactUrl(`rediss://:${PASSWORD}@h`)).toBe('rediss://:***@h');
    expect(redactUrl('redis://h:6379')).toBe('redis://h:6379');
    // A password written alone, in the user's place, is hidden as well.
    expect(redactUrl(`redis://${PASSWORD}@h:6379`)).toBe('redis://***@h:6379');
    expect(redactUrl(`not a url ${PASSWORD}`)).toBe('(an unparsable Redis URL)');
  });

  it('urlSecrets gives the password as written and decoded, for masking', () => {
    expect(urlSecrets(`redis://:${PASSWORD}@h`)).toEqual([PASSWORD, DECODED_PASSWORD]);
    expect(urlSecrets('redis://:plain@h')).toEqual(['plain']);
    expect(urlSecrets('redis://h')).toEqual([]);
    expect(urlSecrets('::')).toEqual([]);
  });

  it('parses redis:// and rediss:// with user, password, port and database', () => {
    expect(parseRedisUrl(`rediss://bob:${PASSWORD}@redis.example.com:6380/2`)).toEqual({
      host: 'redis.example.com',
      port: 6380,
      username: 'bob',
      password: DECODED_PASSWORD,
      db: 2,
      tls: true,
    });
    expect(parseRedisUrl('redis://localhost')).toEqual({
      host: 'localhost',
      port: 6379,
      db: 0,
      tls: false,
    });
    expect(parseRedisUrl('redis://[::1]:7000/')).toEqual({
      host: '::1',
      port: 7000,
      db: 0,
      tls: false,
    });
  });

  it('refuses what is not a Redis URL, clearly', () => {
    const refusal = (url: string) => {
      try {
        parseRedisUrl(url);
      } catch (error) {
        expect(error).toBeInstanceOf(ConnectionError);
        return (error as Error).message;
      }
      throw new Error(`parsed ${url}`);
    };
    expect(refusal('http://h:6379')).toBe(
      "the Redis URL's scheme is http; expected redis:// or rediss:// (TLS)",
    );
    expect(refusal('localhost:6379')).toMatch(/scheme is localhost; expected redis:\/\//);
    expect(refusal('not a url')).toBe(
      'the Redis URL is not a URL; expected redis://[user:password@]host[:port][/db] or rediss://',
    );
    expect(refusal('redis://')).toBe('the Redis URL has no host');
    expect(refusal('redis://h/abc')).toBe("the Redis URL's database abc is not a number");
  });

  it('several seed URLs: split at commas or whitespace before a scheme, never inside a password', () => {
    expect(splitRedisUrls(' redis://a:1,redis://b:2 \n rediss://c:3 , ')).toEqual([
      'redis://a:1',
      'redis://b:2',
      'rediss://c:3',
    ]);
    expect(splitRedisUrls('redis://:pa,ss w@h:1, redis://:pa,ss w@h:2')).toEqual([
      'redis://:pa,ss w@h:1',
      'redis://:pa,ss w@h:2',
    ]);
    const seeds = `redis://bob:${PASSWORD}@h1:7000, redis://bob:${PASSWORD}@h2:7001`;
    expect(redactUrl(seeds)).toBe('redis://bob:***@h1:7000, redis://bob:***@h2:7001');
    expect(urlSecrets(seeds)).toEqual([PASSWORD, DECODED_PASSWORD]);
    expect(urlSecrets('redis://:one@h1 redis://:two@h2')).toEqual(['one', 'two']);
    expect(parseRedisSeeds(seeds, true).map(({ host, port }) => `${host}:${port}`)).toEqual([
      'h1:7000',
      'h2:7001',
    ]);
  });

  it('several seed URLs must agree on all but host and port, and need cluster', () => {
    const refusal = (text: string, cluster = true) => {
      try {
        parseRedisSeeds(text, cluster);
      } catch (error) {
        expect(error).toBeInstanceOf(ConnectionError);
        expect((error as Error).message).not.toContain('secret');
        return (error as Error).message;
      }
      throw new Error(`parsed ${text}`);
    };
    const shared = 'the seed URLs must share scheme, user, password and database; URL 2 differs';
    expect(refusal('redis://:secret@h1 rediss://:secret@h2')).toBe(
      `${shared} from URL 1 in its scheme`,
    );
    expect(refusal('redis://:secret@h1 redis://:secret2@h2')).toBe(
      `${shared} from URL 1 in its password`,
    );
    expect(refusal('redis://u:secret@h1 redis://:secret@h2')).toBe(
      `${shared} from URL 1 in its user`,
    );
    expect(refusal('redis://:secret@h1 redis://:secret@h2/1')).toBe(
      `${shared} from URL 1 in its database`,
    );
    expect(refusal('redis://:secret@h1 redis://:secret@h2?tls=1')).toMatch(/^URL 2: .*query/);
    expect(refusal('redis://:secret@h1 redis://:secret@h2', false)).toBe(
      'holds 2 URLs; several URLs are seed nodes of one Redis Cluster and need cluster: true',
    );
  });

  it('several seed nodes none of which answers: says so, naming one, without the password', async () => {
    const url = `redis://:${PASSWORD}@127.0.0.1:${REFUSED_PORT},redis://:${PASSWORD}@127.0.0.1:${REFUSED_PORT}`;
    const message = await failure(
      connectRedis(url, { cluster: true, timeoutMs: 3000, maxRetries: 0 }),
    );
    // ioredis's cluster client tells only that the node's connection closed.
    expect(message).toMatch(
      new RegExp(
        `^no seed node of the cluster could be used; .*redis://127\\.0\\.0\\.1:${REFUSED_PORT}\\b`,
      ),
    );
    expect(message).not.toContain(DECODED_PASSWORD);
  });

  it('connectRedis refuses a bad URL before connecting', async () => {
    const message = await failure(connectRedis('http://127.0.0.1:1'));
    expect(message).toMatch(/scheme is http/);
  });
});

describe('describeRedisError words every cause', () => {
  const target = parseRedisUrl('redis://bob:pw@cache.internal:6379');
  const err = (message: string, code?: string) =>
    Object.assign(new Error(message), code ? { code } : {});
  it.each([
    [
      err('getaddrinfo ENOTFOUND cache.internal', 'ENOTFOUND'),
      'cannot resolve the host cache.internal of redis://cache.internal:6379',
    ],
    [
      err('getaddrinfo EAI_AGAIN', 'EAI_AGAIN'),
      'cannot resolve the host cache.internal of redis://cache.internal:6379',
    ],
    [
      err('WRONGPASS invalid username-password pair or user is disabled.'),
      'authentication failed at redis://cache.internal:6379 for user bob: check the user and password in the Redis URL',
    ],
    [
      err("NOPERM this user has no permissions to run the 'evalsha' command"),
      "the Redis user bob lacks a permission at redis://cache.internal:6379: NOPERM this user has no permissions to run the 'evalsha' command (see the README for the ACL this action needs)",
    ],
    [
      err('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN'),
      'TLS handshake with redis://cache.internal:6379 failed: self-signed certificate in certificate chain',
    ],
    [
      err('connect ETIMEDOUT', 'ETIMEDOUT'),
      'no answer from redis://cache.internal:6379 within 2.5s',
    ],
    [err('Command timed out'), 'no answer from redis://cache.internal:6379 within 2.5s'],
    [
      err('Connection is closed.'),
      'Redis at redis://cache.internal:6379 failed: Connection is closed.',
    ],
    ['a plain string', 'Redis at redis://cache.internal:6379 failed: a plain string'],
  ])('%s', (error, expected) => {
    expect(describeRedisError(error, target, 2500)).toBe(expected);
  });
});
