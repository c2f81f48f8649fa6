import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import { parse } from 'yaml';
import { runDemote } from '../../src/action/demote.js';
import { runHealth } from '../../src/action/health.js';
import type { ActionHost } from '../../src/action/host.js';
import { run } from '../../src/action/main.js';
import { runStatus } from '../../src/action/status.js';
import { ACTION_IO } from '../../src/action/actionIo.js';
import {
  ACTION_IO_FILE,
  IO_ACTIONS,
  actionIoSource,
  generateActionIo,
} from '../../scripts/generateActionIo.js';
import { ENTRIES, actionDefaults, recordingOutput } from '../../scripts/support/actionRun.js';
import { REFUSED_PORT, testClient } from '../../scripts/support/redisServer.js';
import { seedPrp } from '../support/seed.js';
import { uniqueNamespace } from '../support/snapshot.js';

/**
 * Input and output names declared once (issue 14, section 3): every name an entry reads or
 * sets, on its way to success and on its ways to failure, is one its action.yml declares.
 * The compiler refuses an undeclared name (test/action/actionIoTypes.ts); this runs each
 * entry in process against a host that records every name asked for.
 */

const RUNS = { promote: run, demote: runDemote, status: runStatus, health: runHealth } as const;
type Entry = keyof typeof RUNS;

/** What an action.yml declares, read from the file itself (not the generated module). */
function declared(entry: Entry): { inputs: string[]; outputs: string[] } {
  const action = parse(readFileSync(ENTRIES[entry].actionYml, 'utf8')) as {
    inputs?: Record<string, unknown>;
    outputs?: Record<string, unknown>;
  };
  return { inputs: Object.keys(action.inputs ?? {}), outputs: Object.keys(action.outputs ?? {}) };
}

const used = { inputs: new Set<string>(), outputs: new Set<string>() };
const usedBy: Record<Entry, { inputs: Set<string>; outputs: Set<string> }> = {
  promote: { inputs: new Set(), outputs: new Set() },
  demote: { inputs: new Set(), outputs: new Set() },
  status: { inputs: new Set(), outputs: new Set() },
  health: { inputs: new Set(), outputs: new Set() },
};

/** Runs `entry` in process with its action.yml's defaults under `inputs`, recording names. */
async function runRecording(entry: Entry, inputs: Record<string, string>) {
  const given = { ...actionDefaults(ENTRIES[entry].actionYml), ...inputs };
  const output = recordingOutput();
  const record = usedBy[entry];
  const host: ActionHost = {
    readInput: (name) => {
      record.inputs.add(name);
      used.inputs.add(name);
      return given[name] ?? '';
    },
    env: {
      GITHUB_EVENT_NAME: 'workflow_dispatch',
      GITHUB_REPOSITORY: 'acme/widgets',
      GITHUB_RUN_ID: '1',
      GITHUB_RUN_ATTEMPT: '1',
      GITHUB_SHA: 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678',
      GITHUB_ACTOR: 'octocat',
    },
    summaryFile: undefined,
    output: {
      ...output,
      setOutput: (name, value) => {
        record.outputs.add(name);
        used.outputs.add(name);
        output.setOutput(name, value);
      },
    },
  };
  await RUNS[entry](host);
  return output;
}

describe('every input and output name an entry uses is declared in its action.yml', () => {
  const redisUrl = inject('redisUrl');
  const refused = `redis://127.0.0.1:${REFUSED_PORT}`;
  let redis: Redis;
  beforeAll(() => {
    redis = testClient(redisUrl);
  });
  afterAll(() => redis.disconnect());

  test('promote, demote, status and health: a success and a failure each', async () => {
    const ns = uniqueNamespace();
    await seedPrp(redis, ns, 'PRP-1', 'pending', 0);
    const common = { 'redis-url': redisUrl, namespace: ns, 'prp-id': 'PRP-1', timeout: '5' };
    const promoted = await runRecording('promote', {
      ...common,
      'target-state': 'development',
      evidence: '{"requirements_analysis": "r", "acceptance_criteria": ["a"]}',
    });
    expect(promoted.outputs.result).toBe('promoted');
    expect((await runRecording('promote', { ...common, 'prp-id': 'PRP-9' })).failed).toBe(true);

    const demoted = await runRecording('demote', {
      ...common,
      'target-state': 'pending',
      reason: 'validate failed',
    });
    expect(demoted.outputs.result).toBe('demoted');
    expect((await runRecording('demote', { ...common, 'redis-url': refused })).failed).toBe(true);

    expect((await runRecording('status', common)).outputs.found).toBe('true');
    expect((await runRecording('status', { ...common, 'redis-url': refused })).failed).toBe(true);

    const health = await runRecording('health', { ...common, 'fail-on-alert': 'false' });
    expect(health.outputs.alert).toMatch(/^(true|false)$/);
    expect((await runRecording('health', { ...common, 'redis-url': refused })).failed).toBe(true);

    for (const entry of Object.keys(RUNS) as Entry[]) {
      const { inputs, outputs } = declared(entry);
      expect({
        entry,
        inputs: [...usedBy[entry].inputs].filter((n) => !inputs.includes(n)),
      }).toEqual({ entry, inputs: [] });
      expect({
        entry,
        outputs: [...usedBy[entry].outputs].filter((n) => !outputs.includes(n)),
      }).toEqual({ entry, outputs: [] });
    }
    // The recording saw the entries at work: names were read and set, not none.
    expect(used.inputs).toContain('redis-url');
    expect(used.outputs).toContain('result');
  });
});

describe('src/action/actionIo.ts, generated from the action.yml files', () => {
  const ROOT = fileURLToPath(new URL('../..', import.meta.url));
  const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

  test('is what the four action.yml files generate, names in their order', async () => {
    expect(await generateActionIo(read)).toBe(read(ACTION_IO_FILE));
    for (const { name, file } of IO_ACTIONS) {
      expect(ACTION_IO[name].file).toBe(file);
      const declaredNames = parse(read(file)) as { inputs: object; outputs: object };
      expect(ACTION_IO[name].inputs).toEqual(Object.keys(declaredNames.inputs));
      expect(ACTION_IO[name].outputs).toEqual(Object.keys(declaredNames.outputs));
    }
  });

  test('an input or output added to an action.yml is in the module after generating', async () => {
    const changed = (file: string) =>
      file === 'health/action.yml'
        ? read(file)
            .replace(/^inputs:\n/m, 'inputs:\n  greeting:\n    description: A new input.\n')
            .replace(/^outputs:\n/m, 'outputs:\n  greeted:\n    description: A new output.\n')
        : read(file);
    const before = await generateActionIo(read);
    const after = await generateActionIo(changed);
    expect(after).not.toBe(before);
    const health = /^ {2}health: \{\n([\s\S]*?)^ {2}\},$/m.exec(after)![1]!;
    expect(health).toMatch(/inputs: \[\n\s+'greeting',\n\s+'redis-url',/);
    expect(health).toMatch(/outputs: \['greeted', 'alert', 'fired', 'report'\]/);
    // Only health's entry changed.
    const others = (text: string) => text.replace(/^ {2}health: \{\n[\s\S]*?^ {2}\},$/m, '');
    expect(others(after)).toBe(others(before));
  });

  test('a name that is not kebab-case is refused, naming the file', () => {
    const bad = (file: string) =>
      file === 'status/action.yml'
        ? read(file).replace(/^outputs:\n/m, 'outputs:\n  Bad_Name:\n    description: x\n')
        : read(file);
    expect(() => actionIoSource(bad)).toThrow('status/action.yml: outputs.Bad_Name');
  });
});
