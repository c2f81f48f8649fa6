import type { Redis } from 'ioredis';

/**
 * `redis` with some methods replaced, to make a fault or a race happen at a chosen moment;
 * every other property is the client's own (methods bound to it). `methods` may be a
 * function of the client: then a duplicate of it (the fallback takes one per promotion)
 * has them replaced too.
 */
export function withMethods(
  redis: Redis,
  methods:
    | Partial<Record<keyof Redis, unknown>>
    | ((client: Redis) => Partial<Record<keyof Redis, unknown>>),
): Redis {
  const replaced = typeof methods === 'function' ? methods(redis) : methods;
  return new Proxy(redis, {
    get(target, property) {
      if (Object.hasOwn(replaced, property)) return replaced[property as keyof Redis];
      if (property === 'duplicate' && typeof methods === 'function') {
        return (...args: Parameters<Redis['duplicate']>) =>
          withMethods(target.duplicate(...args), methods);
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

type PipelineExec = () => Promise<[Error | null, unknown][] | null>;

/**
 * `redis` whose pipelines that send EXEC (the fallback's writes, after its reads and checks)
 * run through `around`: it may do something first and then `exec()` (a race), or answer in
 * Redis's place without sending anything (a fault).
 */
export function withExecPipeline(
  redis: Redis,
  around: (exec: PipelineExec) => Promise<[Error | null, unknown][] | null>,
): Redis {
  return withMethods(redis, (client) => ({
    pipeline: () => {
      const pipeline = client.pipeline();
      let sendsExec = false;
      const call = pipeline.call.bind(pipeline);
      pipeline.call = ((...args: Parameters<typeof call>) => {
        sendsExec ||= String(args[0]).toUpperCase() === 'EXEC';
        return call(...args);
      }) as typeof pipeline.call;
      const exec = pipeline.exec.bind(pipeline) as PipelineExec;
      pipeline.exec = (() => (sendsExec ? around(exec) : exec())) as typeof pipeline.exec;
      return pipeline;
    },
  }));
}
