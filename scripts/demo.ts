/**
 * The demo (`npm run demo`): a throwaway redis-server, a PRP waiting in `integration`, and
 * the built action (dist/index.js) run as the runner would after a successful smoke
 * workflow (`workflow_run`, conclusion success), promoting it to `validate`. Prints the
 * action's log, its job summary and what Redis holds afterwards, then stops the server.
 * Exits non-zero if the promotion did not happen.
 */
import { printedOutput, runAction } from './support/actionRun.ts';
import { startFakeGitHub } from './support/fakeGitHub.ts';
import { startRedisServer, testClient } from './support/redisServer.ts';

const NS = 'prp';
const ID = 'PRP-42';
const HEAD_SHA = '4b825dc642cb6eb9a060e54bf8d69288fbee4904';

const section = (title: string) => console.log(`\n\x1b[1m== ${title} ==\x1b[0m`);

const server = await startRedisServer();
const redis = testClient(server.url);
// The GitHub API as the action asks it whether the run's commit is on main (a workflow_run's
// head_branch may name a tag): a local stand-in whose main is at HEAD_SHA.
const github = await startFakeGitHub([], { branches: { main: [HEAD_SHA] } });
let ok: boolean;
try {
  section(`redis-server on ${server.url}: seeding ${ID} in integration`);
  await redis
    .multi()
    .hset(`{${NS}}:prp:${ID}`, 'status', 'integration', 'version', 3, 'title', 'Checkout flow')
    .lpush(`{${NS}}:queue:integration`, ID)
    .exec();
  console.log(await redis.hgetall(`{${NS}}:prp:${ID}`));

  section(
    'node dist/index.js (workflow_run: Smoke on the push to main concluded success) -> validate',
  );
  // The run of a push to the default branch of this repository: only such a commit is merged.
  const repository = { full_name: 'acme/widgets', default_branch: 'main' };
  const outcome = await runAction({
    eventName: 'workflow_run',
    event: {
      action: 'completed',
      workflow_run: {
        id: 13800042,
        name: 'Smoke',
        event: 'push',
        display_title: `Merge pull request #12 from acme/feature/${ID}-checkout`,
        conclusion: 'success',
        head_branch: 'main',
        head_sha: HEAD_SHA,
        head_repository: repository,
        repository,
        html_url: 'https://github.com/acme/widgets/actions/runs/13800042',
        head_commit: { id: HEAD_SHA, message: `Checkout flow (${ID})` },
      },
      repository,
    },
    inputs: { 'redis-url': server.url, 'target-state': 'validate', 'github-token': 'ghs_demo' },
    env: { GITHUB_API_URL: github.url },
  });
  process.stdout.write(printedOutput(outcome) + outcome.stderr);
  console.log(`exit code ${outcome.code}; outputs:`, outcome.outputs);

  section('job summary (GITHUB_STEP_SUMMARY)');
  console.log(outcome.summary);

  section('Redis afterwards');
  const evidenceKey = outcome.outputs['evidence-key'] ?? '';
  console.log(`HGETALL {${NS}}:prp:${ID}`, await redis.hgetall(`{${NS}}:prp:${ID}`));
  for (const state of ['integration', 'validate']) {
    console.log(
      `LRANGE {${NS}}:queue:${state}`,
      await redis.lrange(`{${NS}}:queue:${state}`, 0, -1),
    );
  }
  if (evidenceKey) {
    console.log(`GET ${evidenceKey}`, JSON.parse((await redis.get(evidenceKey)) ?? 'null'));
    console.log(`TTL ${evidenceKey}`, await redis.ttl(evidenceKey), 's');
  }
  const events = await redis.xrange(`{${NS}}:events`, '-', '+');
  for (const [id, fields] of events) {
    const entry = Object.fromEntries(fields.flatMap((f, i) => (i % 2 ? [] : [[f, fields[i + 1]]])));
    console.log(`XRANGE {${NS}}:events ${id}`, entry);
  }
  ok = outcome.code === 0 && outcome.outputs.result === 'promoted';
} finally {
  redis.disconnect();
  await github.stop();
  await server.stop();
}
section(ok ? 'promoted; redis-server stopped' : 'the promotion did not happen');
process.exitCode = ok ? 0 : 1;
