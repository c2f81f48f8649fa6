import { afterEach, describe, expect, test, vi } from 'vitest';
import { InputError, maskSecrets, readInputs } from '../../src/action/inputs.js';

const reader = (inputs: Record<string, string>) => (name: string) => inputs[name] ?? '';
const minimal = { 'redis-url': 'redis://127.0.0.1:6379', 'target-state': 'validate' };

describe('readInputs', () => {
  test('applies the contract defaults to inputs left empty', () => {
    const inputs = readInputs(reader(minimal));
    expect(inputs).toMatchObject({
      redisUrl: 'redis://127.0.0.1:6379',
      targetState: 'validate',
      prpId: undefined,
      evidence: {},
      ciResult: undefined,
      requireChecks: [],
      namespace: 'prp',
      evidenceTtl: 2_592_000,
      expectedVersion: undefined,
      dryRun: false,
      mode: 'lua',
      cluster: false,
      timeoutSeconds: 10,
    });
    expect(inputs.prpIdPattern.source).toBe('PRP-[0-9]+');
  });

  test('reads every input when given', () => {
    const inputs = readInputs(
      reader({
        ...minimal,
        'prp-id': 'PRP-9',
        'prp-id-pattern': 'TASK_[a-z]+',
        evidence: '{"validator_approval":"ok"}',
        'ci-result': 'success',
        'require-checks': 'lint, unit\nsmoke\n',
        'github-token': 'ghs_x',
        namespace: 'team.a',
        'evidence-ttl': '60',
        'expected-version': '0',
        'dry-run': 'True',
        mode: 'multi',
        cluster: 'TRUE',
        timeout: '2.5',
      }),
    );
    expect(inputs).toMatchObject({
      prpId: 'PRP-9',
      evidence: { validator_approval: 'ok' },
      ciResult: 'success',
      requireChecks: ['lint', 'unit', 'smoke'],
      githubToken: 'ghs_x',
      namespace: 'team.a',
      evidenceTtl: 60,
      expectedVersion: 0,
      dryRun: true,
      mode: 'multi',
      cluster: true,
      timeoutSeconds: 2.5,
    });
    expect(inputs.prpIdPattern.firstMatch('x TASK_abc')).toBe('TASK_abc');
  });

  test.each([
    ['redis-url', '', 'is required'],
    ['redis-url', 'http://example.com', 'scheme is http'],
    ['redis-url', 'not a url', 'not a URL'],
    ['target-state', 'pending', 'must be one of development, integration, validate, complete'],
    ['target-state', '', 'must be one of'],
    ['prp-id', '../etc', 'is not a PRP id'],
    ['prp-id-pattern', '([', 'is not a regular expression'],
    ['evidence', '{nope', 'is not valid JSON'],
    ['evidence', '[1]', 'must be a JSON object'],
    ['evidence', 'null', 'must be a JSON object'],
    ['ci-result', 'passed', 'must be one of success, failure, cancelled, skipped'],
    ['namespace', 'a:b', 'must be 1-64 of'],
    ['evidence-ttl', '0', 'must be an integer from 1 to 31536000'],
    ['evidence-ttl', '31536001', 'must be an integer from 1 to 31536000'],
    ['evidence-ttl', '1e3', 'must be an integer'],
    ['expected-version', '-1', 'must be an integer from 0'],
    ['expected-version', '1000000000000000', 'must be an integer from 0 to 999999999999999'],
    ['dry-run', 'yes', 'must be true or false'],
    ['mode', 'eval', 'must be one of lua, multi'],
    ['cluster', '1', 'must be true or false'],
    ['timeout', '0', 'must be a number of seconds above 0'],
    ['timeout', '601', 'at most 600'],
    ['timeout', 'ten', 'must be a number of seconds'],
  ])('a bad %s (%j) fails naming the input', (name, value, problem) => {
    const read = reader({ ...minimal, [name]: value });
    expect(() => readInputs(read)).toThrow(InputError);
    expect(() => readInputs(read)).toThrow(`input ${name}: `);
    expect(() => readInputs(read)).toThrow(problem);
  });

  test('a bad Redis URL is reported without repeating it (it may hold a password)', () => {
    const read = reader({ ...minimal, 'redis-url': 'http://user:s3cret@example.com' });
    expect(() => readInputs(read)).toThrow(InputError);
    expect(() => readInputs(read)).toThrow(/^input redis-url: /);
    expect(() => readInputs(read)).not.toThrow(/s3cret/);
  });
});

describe('prp-id-pattern is RE2 syntax', () => {
  test.each([
    [
      'a backreference',
      '(PRP)-[0-9]+-\\1',
      'invalid escape sequence: `\\1`, which is a backreference',
    ],
    ['a named backreference', '(?<p>PRP)\\k<p>', 'sequence: `\\k`, which is a backreference'],
    ['a lookahead', 'PRP-(?=[0-9])[0-9]+', 'unsupported Perl syntax: `(?=`, which is a lookahead'],
    ['a negative lookahead', 'PRP-(?![0])[0-9]+', '`(?!`, which is a lookahead'],
    ['a lookbehind', '(?<=/)PRP-[0-9]+', '`(?<=/)PRP-[0-9]+`, which is a lookbehind'],
    [
      'a negative lookbehind',
      '(?<!x)PRP-[0-9]+',
      'capture: `(?<!x)PRP-[0-9]+`, which is a lookbehind',
    ],
    ['a repeat count over 1000', 'PRP-[0-9]{1,1001}', 'invalid repeat count: `{1,1001}`)'],
  ])('%s is refused, saying what RE2 lacks', (_, pattern, problem) => {
    const read = () => readInputs(reader({ ...minimal, 'prp-id-pattern': pattern }));
    expect(read).toThrow(InputError);
    expect(read).toThrow(/^input prp-id-pattern: is not a regular expression in RE2 syntax \(/);
    expect(read).toThrow(problem);
    expect(read).toThrow(
      '): the pattern is matched by RE2, in time linear in the text, which has no ' +
        'backreferences (\\1, \\k<name>) and no lookaround ((?=...), (?!...), (?<=...), (?<!...))',
    );
  });

  test('what RE2 has: classes, named groups, inline flags, Unicode classes', () => {
    const match = (pattern: string, text: string) =>
      readInputs(reader({ ...minimal, 'prp-id-pattern': pattern })).prpIdPattern.firstMatch(text);
    expect(match('(?i)prp-\\d+', 'Fix prp-12 now')).toBe('prp-12');
    expect(match('(?P<id>PRP-[0-9]+)', 'x PRP-3')).toBe('PRP-3');
    expect(match('\\bT-\\p{L}+', 'aT-x T-é')).toBe('T-é');
    expect(match('PRP-[0-9]+', 'no id')).toBeUndefined();
  });
});

describe('maskSecrets', () => {
  afterEach(() => vi.restoreAllMocks());

  test('masks the URL, its password raw and decoded, and the token', () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    maskSecrets(reader({ 'redis-url': 'redis://u:p%40ss@host:6379', 'github-token': 'ghs_tok' }));
    // Workflow commands escape % as %25; the runner unescapes it.
    const masked = write.mock.calls.map(([text]) => String(text).trim().replaceAll('%25', '%'));
    expect(masked).toEqual([
      '::add-mask::redis://u:p%40ss@host:6379',
      '::add-mask::p%40ss',
      '::add-mask::p@ss',
      '::add-mask::ghs_tok',
    ]);
  });

  test('masks nothing when there is nothing to mask', () => {
    const write = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
    maskSecrets(reader({}));
    expect(write).not.toHaveBeenCalled();
  });
});
