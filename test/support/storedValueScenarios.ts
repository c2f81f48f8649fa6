import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { BOUNDS } from '../../src/core/contract.js';
import { historyKey, prpKey } from '../../src/core/keys.js';
import type { RunOutcome, RunSpec } from '../../scripts/support/actionRun.js';
import { HEAD_SHA, mergedPullRequestEvent, pushEvent } from './events.js';
import { startFakeGitHub, type FakeGitHub } from '../../scripts/support/fakeGitHub.js';
import type { EntryRunner } from './lifecycleScenarios.js';
import { testClient } from '../../scripts/support/redisServer.js';
import { seedPrp } from './seed.js';
import { uniqueNamespace } from './snapshot.js';

/** The most evidence the script writes (and status reads), and numbers as the summary writes them. */
const MAX = BOUNDS.evidenceMaxBytes;
const n = (value: number) => value.toLocaleString('en-US');

/**
 * Values the action did not make itself are hostile: what another client stored in Redis
 * (a PRP's fields, its history, the key its evidence_key names), what an event carries, what
 * the GitHub API answers. Whichever way the entries run (in this process, or as
 * `node <runs.main>`), no line they print may be read by the runner as a workflow command
 * other than the annotations and masks the action means to give. Shared by test/action
 * (in process) and test/e2e (the built bundles).
 */

/** A value that would give the runner three workflow commands, each in another form. */
export const HOSTILE = '\n::warning title=x::y\n  ::set-output name=state::complete\r##[error]z';

/** The commands the runner registers (actions/runner's extensions and stop-commands). */
const COMMANDS = new Set([
  'add-mask',
  'add-matcher',
  'add-path',
  'debug',
  'echo',
  'endgroup',
  'error',
  'group',
  'notice',
  'remove-matcher',
  'save-state',
  'set-env',
  'set-output',
  'stop-commands',
  'warning',
]);

/**
 * The lines of `stdout` the runner would read as a workflow command, as its
 * ActionCommandManager does: split at CR, LF or CRLF; the `::name::data` form after leading
 * white space is trimmed, else the older `##[name]data` form anywhere in the line. A line
 * after `::stop-commands::TOKEN` counts too (this test trusts no token).
 */
export function runnerCommands(stdout: string): string[] {
  const found: string[] = [];
  for (const line of stdout.split(/\r\n|\r|\n/)) {
    const trimmed = line.replace(/^[\s\u0085\u180e]+/, '');
    const end = trimmed.startsWith('::') ? trimmed.indexOf('::', 2) : -1;
    if (end >= 0 && COMMANDS.has(trimmed.slice(2, end).split(' ')[0]!.toLowerCase())) {
      found.push(line);
      continue;
    }
    const start = line.indexOf('##[');
    const close = start >= 0 ? line.indexOf(']', start) : -1;
    if (
      close >= 0 &&
      COMMANDS.has(
        line
          .slice(start + 3, close)
          .split(' ')[0]!
          .toLowerCase(),
      )
    ) {
      found.push(line);
    }
  }
  return found;
}

/** The commands the action gives itself: a mask, a warning or an error, from column 0. */
const OWN = /^::(add-mask|warning|error)::/;

/** Every command line of the run is one of the action's own; none came from a value. */
export function expectOnlyOwnCommands(outcome: RunOutcome): void {
  expect(runnerCommands(outcome.stdout).filter((line) => !OWN.test(line))).toEqual([]);
  expect(outcome.outputs.state ?? '').not.toBe('complete');
}

export function storedValueScenarios(runEntry: EntryRunner): void {
  const redisUrl = inject('redisUrl');
  let redis: Redis;
  let github: FakeGitHub;
  beforeAll(async () => {
    redis = testClient(redisUrl);
    github = await startFakeGitHub([
      {
        ref: HEAD_SHA,
        pages: [
          {
            total_count: 1,
            check_runs: [
              {
                id: 1,
                name: 'smoke',
                head_sha: HEAD_SHA,
                status: 'completed',
                conclusion: `success${HOSTILE}`,
                started_at: '2025-03-03T10:00:05Z',
                app: { slug: 'github-actions' },
                check_suite: { id: 5 },
              },
            ],
          },
        ],
        // A job of a CI run of a push to main: the check run counts (checks.ts).
        suites: {
          5: [
            {
              id: 5,
              check_suite_id: 5,
              path: '.github/workflows/ci.yml',
              event: 'push',
              head_branch: 'main',
              head_sha: HEAD_SHA,
              repository: { full_name: 'acme/widgets' },
              head_repository: { full_name: 'acme/widgets' },
            },
          ],
        },
        jobs: { 5: [{ id: 1, run_id: 5 }] },
      },
    ]);
  });
  afterAll(async () => {
    redis.disconnect();
    await github.stop();
  });

  const spec = (inputs: Record<string, string>, event = pushEvent('a commit')): RunSpec => ({
    eventName: 'push',
    event,
    inputs: { 'redis-url': redisUrl, ...inputs },
    env: { GITHUB_SHA: HEAD_SHA, GITHUB_API_URL: github.url },
  });

  /** A PRP whose fields and history another client wrote, every one hostile. */
  async function seedHostile(ns: string, id: string, status: string): Promise<void> {
    await seedPrp(redis, ns, id, status);
    await redis.hset(prpKey(ns, id), {
      updated_by: `mona${HOSTILE}`,
      evidence_key: `{${ns}}:evidence:${id}:1-1-x${HOSTILE}`,
    });
    await redis.xadd(
      historyKey(ns, id),
      '*',
      ...[
        ['kind', `promote${HOSTILE}`],
        ['from', `pending${HOSTILE}`],
        ['to', status],
        ['version', `1${HOSTILE}`],
        ['evidence_key', `k${HOSTILE}`],
        ['actor', `octocat${HOSTILE}`],
        ['at', `17${HOSTILE}`],
      ].flat(),
    );
  }

  describe('no value read back, sent or answered becomes a workflow command', () => {
    test('status: state, updated_by, evidence_key and history entries', async () => {
      const ns = uniqueNamespace();
      await seedHostile(ns, 'PRP-1', `validate${HOSTILE}`);
      const outcome = await runEntry('status', spec({ namespace: ns, 'prp-id': 'PRP-1' }));
      expect(outcome.code).toBe(0);
      expect(outcome.outputs.found).toBe('true');
      // A status that is no state is never an output (a workflow may paste it into run:).
      expect(outcome.outputs.state).toBe('');
      expect(outcome.stdout).toContain(
        '::warning::PRP-1: status is "validate\\n::warning title=x::y\\n  ::set-output',
      );
      // The value is shown as it is (the runner's log keeps its words), never obeyed.
      expect(outcome.stdout).toContain('::warning title=x::y');
      expectOnlyOwnCommands(outcome);
    });

    test("status: a status, kind, from, to or evidence_key that is not the contract's is flagged", async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-12', 'validate');
      await redis.hset(prpKey(ns, 'PRP-12'), { status: 'shipped', version: 'v2' });
      await redis.xadd(
        historyKey(ns, 'PRP-12'),
        '*',
        ...[
          ['kind', 'promote\n::error::hist'],
          ['from', 'a\r\n::group::g'],
          ['to', 'validate'],
          ['version', '3'],
          ['evidence_key', '{other}:x'],
          ['actor', 'octocat'],
          ['at', 'zz'],
        ].flat(),
      );
      const outcome = await runEntry('status', spec({ namespace: ns, 'prp-id': 'PRP-12' }));
      expect(outcome.code).toBe(0);
      expect(outcome.outputs).toMatchObject({ found: 'true', state: '', version: '' });
      expect(outcome.stdout).toContain(
        '::warning::PRP-12: status is "shipped", not a state (pending, development, ' +
          'integration, validate, complete): shown as stored, not used',
      );
      expect(outcome.stdout).not.toContain('undefined');
      expect(outcome.stdout).toContain(
        'PRP-12 is in no state (see the warning), version unknown (see the warning)',
      );
      const [entry] = JSON.parse(outcome.outputs.history!) as {
        at: unknown;
        problems: { field: string; note: string }[];
      }[];
      // Shown as stored, as the note says.
      expect(entry!.at).toBe('zz');
      expect(entry!.problems.map((p) => p.field)).toEqual(['at', 'kind', 'from', 'evidence_key']);
      expect(entry!.problems[1]!.note).toBe(
        'kind is "promote\\n::error::hist", not a kind (promote, demote): shown as stored',
      );
      expect(entry!.problems[3]!.note).toBe(
        `evidence_key "{other}:x" is not an evidence key of this PRP ({${ns}}:evidence:PRP-12:TOKEN): not read`,
      );
      expect(outcome.summary).toContain(
        '<th align="left">State</th><td><code>&#34;shipped&#34;</code> ⚠️',
      );
      expectOnlyOwnCommands(outcome);
    });

    // What each move asks on top of the PRP, the namespace and the mode: it answers already.
    const moves = [
      [
        'promote',
        'PRP-2',
        { evidence: '{"requirements_analysis": "r", "acceptance_criteria": ["a"]}' },
      ],
      ['demote', 'PRP-3', { reason: 'validate failed' }],
    ] as const;
    test.each(
      moves.flatMap(([entry, id, inputs]) =>
        ['lua', 'multi'].map((mode) => [entry, mode, id, inputs] as const),
      ),
    )(
      '%s, already (mode %s): the stored evidence_key and the history',
      async (entry, mode, id, inputs) => {
        const ns = uniqueNamespace();
        await seedHostile(ns, id, 'development');
        const outcome = await runEntry(
          entry,
          spec({ namespace: ns, 'prp-id': id, 'target-state': 'development', ...inputs, mode }),
        );
        expect(outcome.outputs.result).toBe('already');
        // Not an evidence key of this PRP: never an output (a workflow may paste it into run:).
        expect(outcome.outputs['evidence-key']).toBe('');
        expect(outcome.stdout).toContain(
          `::warning::${id}: evidence_key "{${ns}}:evidence:${id}:1-1-x\\n::warning title=x::y`,
        );
        expect(outcome.stdout).toContain('::warning title=x::y');
        expectOnlyOwnCommands(outcome);
      },
    );

    test('event payload text: a pull request action and head branch with line breaks', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-4', 'integration');
      const event = mergedPullRequestEvent(`feat/PRP-4${HOSTILE}`, `PRP-4${HOSTILE}`, {
        action: `opened${HOSTILE}`,
      });
      const outcome = await runEntry('promote', {
        ...spec({ namespace: ns, 'target-state': 'validate', 'ci-result': 'success' }, event),
        eventName: 'pull_request',
      });
      expect(outcome.code).toBe(1);
      expect(outcome.stdout).toContain('set-output name=state::complete');
      expectOnlyOwnCommands(outcome);
    });

    test("a GitHub API answer: a check run's conclusion with line breaks", async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-5', 'development');
      const outcome = await runEntry(
        'promote',
        spec({
          namespace: ns,
          'prp-id': 'PRP-5',
          'target-state': 'integration',
          evidence: '{"implementation_complete": true, "local_validation": "npm test"}',
          'require-checks': 'smoke',
          'checks-workflows': '.github/workflows/ci.yml',
          'github-token': 'ghs_fake',
        }),
      );
      expect(outcome.code).toBe(1);
      expect(outcome.stdout).toContain('smoke concluded success');
      expectOnlyOwnCommands(outcome);
    });
  });

  describe('status reads only the evidence keys of its PRP', () => {
    test("an evidence_key of billing:stripe-api-key: not read, said to be not this PRP's", async () => {
      const ns = uniqueNamespace();
      const secretKey = `billing:stripe-api-key:${ns}`;
      const secret = 'sk_live_51HqLyjWDarjtT1zdp7dcXXXXXXXXXXXXXXXX';
      await redis.set(secretKey, secret);
      await seedPrp(redis, ns, 'PRP-6', 'validate');
      await redis.hset(prpKey(ns, 'PRP-6'), 'evidence_key', secretKey);
      try {
        const outcome = await runEntry('status', spec({ namespace: ns, 'prp-id': 'PRP-6' }));
        expect(outcome.code).toBe(0);
        expect(outcome.outputs).toMatchObject({
          found: 'true',
          state: 'validate',
          evidence: '',
          'evidence-key': '',
        });
        expect(JSON.stringify(outcome)).not.toContain(secret);
        const note = `is not an evidence key of this PRP ({${ns}}:evidence:PRP-6:TOKEN): not read`;
        expect(outcome.summary).toContain(note);
        expect(outcome.stdout).toContain(`::warning::PRP-6: evidence_key "${secretKey}" ${note}`);
      } finally {
        await redis.del(secretKey);
      }
    });
  });

  describe('odd stored values are shown as text with a note; the outcome is unchanged', () => {
    const HUGE = '9000000000000000';

    async function seedOdd(ns: string, id: string, status: string): Promise<void> {
      await seedPrp(redis, ns, id, status);
      const evidence = `{${ns}}:evidence:${id}:t`;
      await redis.hset(evidence, 'not', 'a string');
      await redis.hset(prpKey(ns, id), { updated_at: HUGE, evidence_key: evidence });
      for (const at of [HUGE, '-1', 'yesterday']) {
        await redis.xadd(historyKey(ns, id), '*', 'kind', 'promote', 'to', status, 'at', at);
      }
    }

    test('status: updated_at and history at out of range, evidence_key holding a hash', async () => {
      const ns = uniqueNamespace();
      await seedOdd(ns, 'PRP-7', 'validate');
      const outcome = await runEntry('status', spec({ namespace: ns, 'prp-id': 'PRP-7' }));
      expect(outcome.code).toBe(0);
      expect(outcome.stderr).toBe('');
      expect(outcome.outputs).toMatchObject({ found: 'true', state: 'validate', 'updated-at': '' });
      expect(outcome.stdout).not.toContain('::error::');
      expect(outcome.summary).toContain(
        `updated_at is &#34;${HUGE}&#34;, not a time (whole ms since the epoch, from 0 to ` +
          '8640000000000000): shown as stored',
      );
      expect(outcome.summary).toContain(
        'holds no string (another client wrote another type there): not read',
      );
      for (const at of [HUGE, '-1', 'yesterday']) {
        expect(outcome.summary).toContain(`at is &#34;${at}&#34;, not a time`);
      }
      expect(outcome.stdout).toContain(`::warning::PRP-7: updated_at is "${HUGE}", not a time`);
      // A warning each for updated_at and evidence_key, one for all the odd history entries.
      expect(outcome.stdout.match(/^::warning::/gm)).toHaveLength(3);
      expect(outcome.stdout).toContain(
        "::warning::PRP-7: 3 history entries hold values that are not the contract's",
      );
    });

    test.each([
      [
        'promote',
        {
          'target-state': 'development',
          evidence: '{"requirements_analysis": "r", "acceptance_criteria": ["a"]}',
        },
      ],
      ['demote', { 'target-state': 'development', reason: 'validate failed' }],
    ] as const)(
      '%s, already: the history in its summary shows the odd times as text',
      async (entry, inputs) => {
        const ns = uniqueNamespace();
        await seedOdd(ns, 'PRP-8', 'development');
        const outcome = await runEntry(
          entry,
          spec({ namespace: ns, 'prp-id': 'PRP-8', ...inputs }),
        );
        expect(outcome.code).toBe(0);
        expect(outcome.outputs.result).toBe('already');
        expect(outcome.stdout).not.toMatch(/::error::|::warning::/);
        expect(outcome.summary).toContain('<h3>Recent history</h3>');
        expect(outcome.summary).toContain(`at is &#34;${HUGE}&#34;, not a time`);
      },
    );
  });

  describe('summaries and outputs are bounded', () => {
    const MIB = 1024 * 1024;
    const LONG = 'x'.repeat(600);

    /** A 2 MB evidence value and a 1,000-entry history of long ids and keys. */
    async function seedLarge(ns: string, id: string, status: string): Promise<string> {
      await seedPrp(redis, ns, id, status);
      const evidenceKey = `{${ns}}:evidence:${id}:t`;
      const evidence = JSON.stringify({ log: 'y'.repeat(2_000_000) });
      await redis.set(evidenceKey, evidence);
      await redis.hset(prpKey(ns, id), { evidence_key: evidenceKey, updated_by: LONG });
      const pipeline = redis.pipeline();
      for (let i = 0; i < 1000; i++) {
        pipeline.xadd(
          historyKey(ns, id),
          '*',
          'kind',
          'promote',
          'from',
          'pending',
          'to',
          status,
          'version',
          String(i),
          'evidence_key',
          `{${ns}}:evidence:${id}:${i}-${LONG}`,
          'actor',
          `${LONG}-${i}`,
          'at',
          String(1_700_000_000_000 + i),
        );
      }
      await pipeline.exec();
      return evidence;
    }

    test('status of a 2 MB evidence and 1,000 long history entries: below 1 MiB, saying what was cut', async () => {
      const ns = uniqueNamespace();
      await seedLarge(ns, 'PRP-9', 'validate');
      const outcome = await runEntry(
        'status',
        spec({ namespace: ns, 'prp-id': 'PRP-9', history: '1000' }),
      );
      expect(outcome.code).toBe(0);
      expect(Buffer.byteLength(outcome.summary)).toBeLessThan(MIB);
      // Larger than any evidence the script writes: only its first MAX bytes are read.
      expect(outcome.summary).toContain(`✂️ cut: ${n(MAX)} characters, the first 16,384 shown`);
      expect(outcome.summary).toContain(
        `evidence is 2,000,010 bytes, larger than any the script writes (at most ${n(MAX)}): ` +
          `shown cut, its first ${n(MAX)} bytes`,
      );
      expect(outcome.outputs.evidence).toHaveLength(MAX);
      expect(outcome.summary).toMatch(/output history: the newest \d+ of 1000 entries/);
      expect(outcome.summary).toMatch(/its last [\d,]+ lines \([\d,]+ table rows\) were left out/);
      for (const value of Object.values(outcome.outputs)) {
        expect(Buffer.byteLength(value)).toBeLessThanOrEqual(262_144);
      }
      const history = JSON.parse(outcome.outputs.history!) as { version: number }[];
      expect(history.length).toBeGreaterThan(100);
      expect(history[0]!.version).toBe(999);
      // What was kept is whole HTML: every table that opens closes.
      expect(outcome.summary.match(/<table>/g)?.length).toBe(
        outcome.summary.match(/<\/table>/g)?.length,
      );
    });

    test('status of a 64 MB evidence value: answers within its timeout, saying the size', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-40', 'validate');
      const big = `{${ns}}:evidence:PRP-40:big`;
      // Made by the server (SETRANGE pads with zero bytes), never sent through this process.
      await redis.setrange(big, 64 * MIB - 1, 'x');
      await redis.setrange(big, 0, '{"log":"');
      await redis.hset(prpKey(ns, 'PRP-40'), 'evidence_key', big);
      try {
        const started = performance.now();
        const outcome = await runEntry(
          'status',
          spec({ namespace: ns, 'prp-id': 'PRP-40', timeout: '3' }),
        );
        expect(performance.now() - started).toBeLessThan(3000);
        expect(outcome.code).toBe(0);
        expect(outcome.outputs).toMatchObject({ found: 'true', state: 'validate' });
        expect(Buffer.byteLength(outcome.outputs.evidence!)).toBe(MAX);
        const note =
          `evidence is 67,108,864 bytes, larger than any the script writes (at most ${n(MAX)}): ` +
          `shown cut, its first ${n(MAX)} bytes`;
        expect(outcome.stdout).toContain(`::warning::PRP-40: ${note}`);
        expect(outcome.summary).toContain(note);
      } finally {
        await redis.del(big);
      }
    });

    test('status of a 2 MB state and updated_by: the summary keeps its heading and rows', async () => {
      const ns = uniqueNamespace();
      await seedPrp(redis, ns, 'PRP-11', 'validate');
      const huge = `validate${'s'.repeat(2_000_000)}`;
      await redis.hset(prpKey(ns, 'PRP-11'), { status: huge, updated_by: huge });
      const outcome = await runEntry('status', spec({ namespace: ns, 'prp-id': 'PRP-11' }));
      expect(outcome.code).toBe(0);
      expect(Buffer.byteLength(outcome.summary)).toBeLessThan(MIB);
      // No state: the stored status is shown in the State row, cut, with its note.
      expect(outcome.outputs.state).toBe('');
      expect(outcome.summary).toMatch(/^<h2>PRP status: PRP-11<\/h2>/);
      expect(outcome.summary).toMatch(/<th align="left">State<\/th><td><code>&#34;validatesss/);
      expect(outcome.summary).toContain('<th align="left">Updated by</th>');
      expect(outcome.summary).toContain('<th align="left">Time taken</th>');
      expect(outcome.summary).toMatch(
        /output updated-by: 2,000,008 bytes, cut to the first 262,144/,
      );
    });

    test.each([
      [
        'promote',
        {
          'target-state': 'development',
          evidence: '{"requirements_analysis": "r", "acceptance_criteria": ["a"]}',
        },
      ],
      ['demote', { 'target-state': 'development', reason: 'validate failed' }],
    ] as const)(
      '%s, already, with a history of 1 MB actors: its summary below 1 MiB',
      async (entry, inputs) => {
        const ns = uniqueNamespace();
        await seedPrp(redis, ns, 'PRP-10', 'development');
        for (let i = 0; i < 5; i++) {
          await redis.xadd(
            historyKey(ns, 'PRP-10'),
            '*',
            'kind',
            'promote',
            'to',
            'development',
            'actor',
            'a'.repeat(1_000_000),
            'at',
            '1700000000000',
          );
        }
        const outcome = await runEntry(
          entry,
          spec({ namespace: ns, 'prp-id': 'PRP-10', ...inputs }),
        );
        expect(outcome.outputs.result).toBe('already');
        expect(Buffer.byteLength(outcome.summary)).toBeLessThan(MIB);
        expect(outcome.summary).toContain('✂️ cut: 1,000,000 characters, the first 16,384 shown');
      },
    );
  });
}
