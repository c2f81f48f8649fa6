import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  AnswerLostError,
  ConnectionError,
  MayHaveRunError,
  NotRunError,
  OutcomeError,
  PartialWriteError,
  PromotionError,
  RefusedError,
} from '../../src/core/index.js';
import { callFailureError, callFailureOf, type CallFailure } from '../../src/core/errors.js';
import { parseReply } from '../../src/core/promote.js';
import { keyDenied } from '../../src/core/keyAccess.js';
import { InputError } from '../../src/action/failures.js';

/**
 * The outcome classes are closed and honest (issue 14, section 4): every error src raises is
 * refused (nothing written), not run, may have run, or written in part, and each is its own
 * class, none a subclass of another.
 */

const SRC = resolve(import.meta.dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith('.ts')
        ? [join(dir, entry.name)]
        : [],
  );
}

describe('no bare Error in src', () => {
  test('src constructs no Error of its own and declares no class on Error but OutcomeError', () => {
    const found: string[] = [];
    for (const file of sourceFiles(SRC)) {
      const lines = readFileSync(file, 'utf8').split('\n');
      for (const [i, line] of lines.entries()) {
        if (/\bnew Error\(|\bextends Error\b/.test(line)) {
          found.push(`${relative(SRC, file)}:${i + 1}: ${line.trim()}`);
        }
      }
    }
    // Each hit names its line, so a failure says where; the one allowed hit is matched by file.
    expect(found.map((hit) => hit.replace(/:\d+: /, ': '))).toEqual([
      'core/errors.ts: export abstract class OutcomeError extends Error {',
    ]);
  });
});

const failure = (kind: CallFailure['kind']): CallFailure => ({
  operation: 'promotion',
  kind,
  detail: 'd',
  cluster: false,
  user: 'default',
  seconds: 1,
});

/** A move the fallback wrote in part, and the LREM Redis failed in it. */
const MOVE = {
  id: 'PRP-1',
  kind: 'promote',
  from: 'pending',
  to: 'development',
  version: 1,
  evidenceKey: 'ns:evidence:PRP-1:t',
} as const;
const FAILED_LREM = {
  command: 'LREM',
  key: 'ns:queue:x',
  error: 'WRONGTYPE',
  repair: 'LREM ns:queue:x 0 PRP-1',
};

describe('the four outcome classes', () => {
  const CLASSES = [RefusedError, NotRunError, MayHaveRunError, PartialWriteError] as const;

  test('each is its own class: none is an instance of another', () => {
    const made = [
      new RefusedError('r'),
      new NotRunError('n'),
      new MayHaveRunError('m'),
      new PartialWriteError(MOVE, [{ command: 'XADD', key: 'k' }], [FAILED_LREM]),
    ];
    for (const [i, error] of made.entries()) {
      expect(error).toBeInstanceOf(OutcomeError);
      for (const [j, Class] of CLASSES.entries()) {
        expect(error instanceof Class, `${error.name} instanceof ${Class.name}`).toBe(i === j);
      }
    }
    expect(made.map((e) => e.outcome)).toEqual([
      'refused',
      'not_run',
      'may_have_run',
      'written_in_part',
    ]);
  });

  test('AnswerLostError (may have run) is no ConnectionError (nothing ran)', () => {
    const lost = callFailureError(failure('timeout'), 'redis://h:1');
    expect(lost).toBeInstanceOf(AnswerLostError);
    expect(lost).toBeInstanceOf(MayHaveRunError);
    expect(lost).not.toBeInstanceOf(ConnectionError);
    expect(lost).not.toBeInstanceOf(NotRunError);
    expect(lost.outcome).toBe('may_have_run');
    expect(callFailureOf(lost)).toEqual(failure('timeout'));

    const notRun = callFailureError(failure('notRun'), 'redis://h:1');
    expect(notRun).toBeInstanceOf(ConnectionError);
    expect(notRun).toBeInstanceOf(NotRunError);
    expect(notRun).not.toBeInstanceOf(MayHaveRunError);
    expect(callFailureOf(notRun)).toEqual(failure('notRun'));
  });

  test('a refusal with a code is refused; a bad input was not run', () => {
    expect(new PromotionError('PRP_NOT_FOUND', 'x')).toBeInstanceOf(RefusedError);
    expect(new PromotionError('PRP_NOT_FOUND', 'x').outcome).toBe('refused');
    expect(new InputError('mode', 'bad')).toBeInstanceOf(NotRunError);
  });

  test('PartialWriteError names what was written and what failed', () => {
    const ran = [
      { command: 'XADD', key: 'a' },
      { command: 'SET', key: 'b' },
    ];
    const error = new PartialWriteError(MOVE, ran, [FAILED_LREM]);
    expect(error.ran).toEqual(ran);
    expect(error.failed).toEqual([FAILED_LREM]);
    expect(error.hashWritten).toBe(false);
    expect(error.name).toBe('PartialWriteError');
    expect(error.message).toContain('LREM ns:queue:x (WRONGTYPE) failed');
    expect(error.message).toContain('XADD a, SET b ran');
    expect(error.message).toContain('redis-cli LREM ns:queue:x 0 PRP-1');
  });

  test("a key Redis refused is refused (nothing written); a reply not the contract's may have run", () => {
    const denied = keyDenied(new Error('NOPERM No permissions to access a key'), 'prp:x');
    expect(denied).toBeInstanceOf(RefusedError);
    expect(denied.message).toMatch(/^NOPERM .*: prp:x .*nothing was written/);
    expect(() => parseReply('not json')).toThrow(MayHaveRunError);
    expect(() => parseReply('{}')).toThrow(MayHaveRunError);
  });
});
