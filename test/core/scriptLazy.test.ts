import { beforeEach, describe, expect, it, vi } from 'vitest';

// The script's source is read on first use, not when the engine is imported: the status and
// health entries never run it, so they start without lua/promote.lua beside them.

const reads = vi.hoisted(() => [] as string[]);
vi.mock('node:fs', async (original) => {
  const fs = await original<typeof import('node:fs')>();
  const readFileSync = ((path: unknown, ...rest: unknown[]) => {
    reads.push(String(path));
    return (fs.readFileSync as (...args: unknown[]) => unknown)(path, ...rest);
  }) as typeof fs.readFileSync;
  return { ...fs, default: { ...fs, readFileSync }, readFileSync };
});

const scriptReads = () => reads.filter((path) => path.endsWith('/lua/promote.lua'));

beforeEach(() => {
  reads.length = 0;
  vi.resetModules();
});

describe('the promotion script is read on first use', () => {
  it('importing the engine, status and health reads no promote.lua', async () => {
    await import('../../src/core/index.js');
    await import('../../src/core/status.js');
    await import('../../src/core/health.js');
    expect(scriptReads()).toEqual([]);
  });

  it('the first use reads it once; later uses reuse the text and the SHA', async () => {
    const script = await import('../../src/core/script.js');
    expect(scriptReads()).toEqual([]);
    const sha = script.promoteScriptSha();
    expect(sha).toMatch(/^[0-9a-f]{40}$/);
    expect(script.promoteScript().length).toBeGreaterThan(0);
    expect(script.promoteScriptSha()).toBe(sha);
    expect(scriptReads()).toHaveLength(1);
  });
});
