import { createServer, type AddressInfo, type Socket } from 'node:net';

export interface TcpServer {
  port: number;
  stop(): Promise<void>;
}

/**
 * A TCP server on a free loopback port that is no Redis; `onConnection` decides how it
 * misbehaves. By default it accepts connections and never answers: a Redis that hangs.
 */
export async function startTcpServer(
  onConnection: (socket: Socket) => void = () => undefined,
): Promise<TcpServer> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    onConnection(socket);
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      new Promise((done) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => done());
      }),
  };
}
