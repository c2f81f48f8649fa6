import { connect, type Socket } from 'node:net';
import { startTcpServer, type TcpServer } from './tcpServer.js';

/**
 * A proxy to Redis that, once armed, holds the first request holding `trigger` (the
 * fallback's writes and EXEC, sent after its reads and checks), runs `sabotage` (another
 * client changing a key the check read), and then passes the request on: what another client
 * does between the fallback's check and its EXEC, when the action connects by URL.
 */
export async function startSabotagingProxy(
  redisPort: number,
  trigger: RegExp,
): Promise<TcpServer & { arm(sabotage: () => Promise<void>): void }> {
  let sabotage: (() => Promise<void>) | undefined;
  const server = await startTcpServer((client: Socket) => {
    const upstream = connect(redisPort, '127.0.0.1');
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('data', (chunk) => client.write(chunk));
    client.on('close', () => upstream.end());
    client.on('data', (chunk) => {
      const run = sabotage;
      if (!run || !trigger.test(chunk.toString('latin1'))) {
        upstream.write(chunk);
        return;
      }
      sabotage = undefined;
      client.pause();
      void run().finally(() => {
        upstream.write(chunk);
        client.resume();
      });
    });
  });
  return {
    ...server,
    arm: (work) => {
      sabotage = work;
    },
  };
}
