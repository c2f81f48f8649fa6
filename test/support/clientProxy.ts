import type { Redis } from 'ioredis';

/**
 * `redis` with some methods replaced, to make a fault or a race happen at a chosen moment;
 * every other property is the client's own (methods bound to it).
 */
export function withMethods(redis: Redis, methods: Partial<Record<keyof Redis, unknown>>): Redis {
  return new Proxy(redis, {
    get(target, property) {
      if (Object.hasOwn(methods, property)) return methods[property as keyof Redis];
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
