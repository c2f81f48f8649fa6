import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

/**
 * A throwaway redis-server (Debian's package) on a free loopback port, for tests, the demo and
 * the bench (scripts/support: used by scripts and the test harness alike, never shipped in
 * dist/). No persistence; its own temp dir; stopped by stop().
 */
export interface RedisServer {
  url: string;
  /** The port it listens on: plain TCP, or TLS only when started with `tls`. */
  port: number;
  /** Kills the server and removes its temp dir. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Extra redis-server arguments, e.g. ['--maxmemory', '2mb']. */
  args?: string[];
  /**
   * When set, the server listens with TLS on `port` (and plain TCP nowhere), as
   * `redis-server --port 0 --tls-port N` does.
   */
  tls?: { certFile: string; keyFile: string; caFile: string };
  /**
   * A one-node Redis Cluster that owns every slot and is in cluster_state:ok; `'no-slots'`:
   * a cluster node that owns nothing yet, for startRedisCluster to join to others.
   */
  cluster?: boolean | 'no-slots';
}

/**
 * A loopback port nothing listens on, by construction: binding it takes root, and no test
 * does. A free port found at run time would not do: another test's server may take it.
 */
export const REFUSED_PORT = 1;

/** Servers still running, killed when this process exits however it exits. */
const running = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** freePort() releases the port before redis-server binds it: another may take it between. */
const PORT_ATTEMPTS = 5;
const START_TIMEOUT_MS = 10_000;
const CLUSTER_TIMEOUT_MS = 10_000;

class PortTaken extends Error {}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function startRedisServer(options: StartOptions = {}): Promise<RedisServer> {
  if (options.cluster && options.tls) throw new Error('cluster over TLS is not supported here');
  for (let attempt = 1; ; attempt++) {
    try {
      return await launch(await freePort(), options);
    } catch (error) {
      if (!(error instanceof PortTaken) || attempt === PORT_ATTEMPTS) throw error;
    }
  }
}

async function launch(port: number, options: StartOptions): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'prp-redis-'));
  const listen = options.tls
    ? [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        options.tls.certFile,
        '--tls-key-file',
        options.tls.keyFile,
        '--tls-ca-cert-file',
        options.tls.caFile,
        '--tls-auth-clients',
        'no',
      ]
    : ['--port', String(port)];
  const cluster = options.cluster
    ? ['--cluster-enabled', 'yes', '--cluster-announce-ip', '127.0.0.1']
    : [];
  const child: ChildProcess = spawn(
    'redis-server',
    [
      ...listen,
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      ...cluster,
      ...(options.args ?? []),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.add(child);
  let output = '';
  child.stdout?.on('data', (chunk) => (output += chunk));
  child.stderr?.on('data', (chunk) => (output += chunk));
  // A process that could not be spawned emits 'error' and perhaps never 'exit'.
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', () => resolve());
  });
  const stop = async () => {
    running.delete(child);
    child.kill('SIGKILL');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };

  const url = `${options.tls ? 'rediss' : 'redis'}://127.0.0.1:${port}`;
  try {
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) =>
        settle(
          new Error(`cannot run redis-server (apt-get install redis-server): ${error.message}`),
        );
      const onExit = (code: number | null) =>
        settle(
          output.includes('Address already in use')
            ? new PortTaken(`port ${port} is taken:\n${output}`)
            : new Error(`redis-server exited with ${code}:\n${output}`),
        );
      const timer = setTimeout(
        () => settle(new Error(`redis-server did not start:\n${output}`)),
        START_TIMEOUT_MS,
      );
      const poll = setInterval(() => {
        if (output.includes('Ready to accept connections')) settle();
      }, 20);
      function settle(error?: Error) {
        clearTimeout(timer);
        clearInterval(poll);
        child.off('error', onError);
        child.off('exit', onExit);
        if (error) reject(error);
        else resolve();
      }
      child.once('error', onError);
      child.once('exit', onExit);
    });
    if (options.cluster === true) await formCluster(url);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, port, stop };
}

/** Gives the one node every slot and waits until the cluster says it is ok. */
async function formCluster(url: string): Promise<void> {
  const admin = testClient(url);
  try {
    await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
  } finally {
    admin.disconnect();
  }
  await waitForClusterOk(url);
}

/** Waits until the node at `url` says cluster_state:ok: it sees every slot served. */
export async function waitForClusterOk(url: string): Promise<void> {
  const admin = testClient(url);
  try {
    const deadline = Date.now() + CLUSTER_TIMEOUT_MS;
    while (!(await admin.cluster('INFO')).includes('cluster_state:ok')) {
      if (Date.now() > deadline) {
        throw new Error(`the cluster at ${url} did not reach cluster_state:ok`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    admin.disconnect();
  }
}

export interface RedisCluster {
  /** The nodes: `nodes[1]` serves the slot of `keyOnSecond`, `nodes[0]` every other slot. */
  nodes: RedisServer[];
  stop(): Promise<void>;
}

/**
 * A Redis Cluster of two masters in cluster_state:ok on every node, where the second node
 * serves only the slot of `keyOnSecond` (e.g. '{prp}', the default namespace's hash tag):
 * a client of the first node that asks for that key is redirected (MOVED).
 */
export async function startRedisCluster(keyOnSecond: string): Promise<RedisCluster> {
  const nodes: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
  };
  try {
    for (let i = 0; i < 2; i++) nodes.push(await startRedisServer({ cluster: 'no-slots' }));
    const [first, second] = nodes.map((node) => testClient(node.url));
    try {
      const slot = Number(await first!.cluster('KEYSLOT', keyOnSecond));
      await first!.cluster('MEET', '127.0.0.1', nodes[1]!.port);
      await second!.call('CLUSTER', 'ADDSLOTS', String(slot));
      for (const [from, to] of [
        [0, slot - 1],
        [slot + 1, 16383],
      ] as const) {
        if (from <= to) await first!.call('CLUSTER', 'ADDSLOTSRANGE', String(from), String(to));
      }
    } finally {
      first!.disconnect();
      second!.disconnect();
    }
    // ok on both: each has heard of the other and of the slots it serves.
    for (const node of nodes) await waitForClusterOk(node.url);
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes, stop };
}

/** A plain client for test set-up and inspection (not the code under test). */
export function testClient(url: string): Redis {
  return new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 0 });
}
