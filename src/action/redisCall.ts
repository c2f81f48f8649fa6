import { withRedis, type RedisClient, type RedisTarget } from '../core/index.js';
import { scrubSecrets, withDeadline } from '../core/connection.js';
import { callFailureError, callFailureOf, type Operation } from '../core/errors.js';

/**
 * One call to Redis as every entry point makes it (promote, demote, status, health): connect
 * (bounded by the timeout), run the call (bounded again), always close, and say a failure
 * plainly, in the words of what the call does, and truthfully about whether it ran.
 */

/** What a call needs of a run's settings. */
export interface CallSettings {
  redis: RedisTarget;
  namespace: string;
  cluster: boolean;
  timeoutSeconds: number;
}

/**
 * Connects (bounded by the timeout), runs `call` (bounded again), and always closes. The
 * core says what failed and whether it ran (a ConnectionError carrying its CallFailure); it
 * is said again here with the URL as the run shows it (user and `***`).
 */
export function callRedis<T>(
  settings: CallSettings,
  operation: Operation,
  call: (redis: RedisClient) => Promise<T>,
): Promise<T> {
  const timeoutMs = settings.timeoutSeconds * 1000;
  const where = settings.redis.display;
  // The deadline bounds the whole call, on a connection made: what it sent may have run.
  const timedOut = () =>
    callFailureError(
      {
        operation,
        kind: 'timeout',
        detail: 'deadline',
        namespace: settings.namespace,
        cluster: settings.cluster,
        user: settings.redis.username ?? 'default',
        seconds: settings.timeoutSeconds,
      },
      where,
    );
  return withRedis(settings.redis, { timeoutMs }, async (redis) => {
    try {
      return await withDeadline(call(redis), timeoutMs, timedOut);
    } catch (error) {
      const failure = callFailureOf(error);
      throw failure ? Object.assign(callFailureError(failure, where), { cause: error }) : error;
    }
  });
}

/** The message an error annotation carries (a refusal's starts with its code), never a stack. */
export const describeFailure = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

/**
 * The reason a failed run gives, in its annotation and its summary: the message, with every
 * secret the run masked taken out (messages are built without them; this is the last guard).
 */
export const failureReason = (error: unknown, secrets: readonly string[]): string =>
  scrubSecrets(describeFailure(error), secrets);
