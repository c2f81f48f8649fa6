import { describe, expect, test } from 'vitest';
import { printedOutput, runAction } from '../../scripts/support/actionRun.js';

/** No secret in what a failed run prints, summarises or outputs: URL shapes × ways to fail (dist). */
const TOKEN = 'ghp_TOKENvalue0123456789abcdef';
const urls: [string, string[]][] = [
  ['redis://:S3cr%40t%2Bpw@127.0.0.1:1', ['S3cr%40t%2Bpw', 'S3cr@t+pw']],
  ['redis://SECRETUSERONLY@127.0.0.1:1', ['SECRETUSERONLY']],
  ['redis://u:Pw,with,commas@127.0.0.1:1/0', ['Pw,with,commas']],
  ['redis://:SeedPass1@127.0.0.1:1, redis://:SeedPass1@127.0.0.1:2', ['SeedPass1']],
  ['redis://:BadPct%ZZpass@127.0.0.1:1', ['BadPct%ZZpass']],
  ['redis://:QueryPass9@127.0.0.1:1?tls=true', ['QueryPass9']],
  ['http://:SchemePass7@127.0.0.1:1', ['SchemePass7']],
  ['redis://:WrongDb55@127.0.0.1:1/x', ['WrongDb55']],
];
const breakers: Record<string, Record<string, string>> = {
  'refused port': {},
  'bad target-state': { 'target-state': 'nowhere' },
  'bad evidence': { evidence: '{"a":' },
  cluster: { cluster: 'true' },
};

describe('secrets on failure paths (dist)', () => {
  for (const [url, secrets] of urls) {
    for (const [name, extra] of Object.entries(breakers)) {
      test(`${url} / ${name}`, async () => {
        const outcome = await runAction({
          inputs: {
            'redis-url': url,
            'target-state': 'complete',
            'prp-id': 'PRP-1',
            'github-token': TOKEN,
            timeout: '2',
            ...extra,
          },
          eventName: 'push',
          event: {},
        });
        expect(outcome.code).toBe(1);
        const shown = [
          printedOutput(outcome),
          outcome.stderr,
          outcome.summary,
          JSON.stringify(outcome.outputs),
        ].join('\n');
        for (const secret of [...secrets, TOKEN]) expect(shown).not.toContain(secret);
      });
    }
  }
});
