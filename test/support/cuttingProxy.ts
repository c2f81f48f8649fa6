import { connect, type Socket } from 'node:net';
import { startTcpServer, type TcpServer } from './tcpServer.js';

/**
 * A proxy to Redis that, once armed, passes on the first request holding `trigger` and then
 * cuts the client off: Redis runs it, its answer goes nowhere. Like some middleboxes, it
 * does not pass the server's close on to the client: a client must not wait for it.
 * arm() resolves once the cut is complete (its connection to Redis closed too), so a test
 * that then reads Redis sees whatever the cut request did.
 */
export async function startCuttingProxy(
  redisPort: number,
  trigger: string,
): Promise<TcpServer & { arm(): Promise<void> }> {
  let armed = false;
  let onCut = () => undefined as void;
  const server = await startTcpServer((client: Socket) => {
    const upstream = connect(redisPort, '127.0.0.1');
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
    upstream.on('data', (chunk) => client.write(chunk));
    client.on('data', (chunk) => {
      upstream.write(chunk);
      if (armed && chunk.toString('latin1').toUpperCase().includes(trigger)) {
        armed = false;
        client.destroy();
        upstream.once('close', onCut);
        setTimeout(() => upstream.destroy(), 200); // let Redis answer into the void
      }
    });
    client.on('close', () => upstream.end());
  });
  return {
    ...server,
    arm: () => {
      armed = true;
      return new Promise<void>((resolve) => (onCut = resolve));
    },
  };
}
