import {
  AnswerLostError,
  ConnectionError,
  classifyCommandError,
  scrubSecrets,
  withDeadline,
  withRedis,
  type RedisClient,
  type RedisTarget,
} from '../core/index.js';
import { say } from './failures.js';

/**
 * One call to Redis as every entry point makes it (promote, demote, status): connect
 * (bounded by the timeout), run the call (bounded again), always close, and say a failure
 * plainly and truthfully about whether the call ran.
 */

/** What a call needs of a run's settings. */
export interface CallSettings {
  redis: RedisTarget;
  namespace: string;
  cluster: boolean;
  timeoutSeconds: number;
}

/** The call may have run although no answer came; a re-run tells (`already` if it did). */
const answerLost = (settings: CallSettings, what: string) =>
  new AnswerLostError(say.answerLost(settings.redis.display, what));

const timedOut = (settings: CallSettings) =>
  answerLost(settings, say.noAnswerWithin(settings.timeoutSeconds));

/** Connects (bounded by the timeout), runs `call` (bounded again), and always closes. */
export function callRedis<T>(
  settings: CallSettings,
  call: (redis: RedisClient) => Promise<T>,
): Promise<T> {
  const timeoutMs = settings.timeoutSeconds * 1000;
  return withRedis(settings.redis, { timeoutMs }, async (redis) => {
    try {
      return await withDeadline(call(redis), timeoutMs, () => timedOut(settings));
    } catch (error) {
      throw describeCommandFailure(error, settings) ?? error;
    }
  });
}

/**
 * ioredis's and a cluster's own words, said plainly, and truthfully about whether the
 * call ran: its command timeout may fire before the deadline; a connection that drops
 * while the call is under way fails it rather than sending it again; a cluster refuses
 * before running anything (MOVED to a client that is not a cluster client, CLUSTERDOWN,
 * TRYAGAIN).
 */
function describeCommandFailure(error: unknown, settings: CallSettings): Error | undefined {
  const failure = classifyCommandError(error);
  if (!failure) return undefined;
  const where = settings.redis.display;
  if (failure.kind === 'timeout') return timedOut(settings);
  if (failure.kind === 'closed') return answerLost(settings, say.connectionLost);
  if (failure.kind === 'lost') return answerLost(settings, say.redirectionsLost(failure.detail));
  if (failure.kind === 'redirected' && !settings.cluster) {
    return new ConnectionError(
      say.clusterNodeNotCluster(where, settings.namespace, failure.detail),
    );
  }
  // CLUSTERDOWN, TRYAGAIN, redirections that ran out (a cluster client follows them itself).
  return new ConnectionError(say.clusterRefused(where, failure.detail, settings.cluster));
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
