import type { TestProject } from 'vitest/node';
import { startRedisServer } from '../../scripts/support/redisServer.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

/**
 * One shared redis-server for the suite, on a free port, unless REDIS_URL names one. Tests
 * that change server-wide settings (maxmemory, SCRIPT FLUSH) start servers of their own.
 */
export default async function setup(project: TestProject) {
  if (process.env.REDIS_URL) {
    project.provide('redisUrl', process.env.REDIS_URL);
    return;
  }
  const server = await startRedisServer();
  project.provide('redisUrl', server.url);
  return () => server.stop();
}
