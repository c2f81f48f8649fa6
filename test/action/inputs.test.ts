import fc from 'fast-check';
import { afterEach, describe, expect, test, vi } from 'vitest';
import {
  InputError,
  maskSecrets,
  readDemoteSettings,
  readInputs,
  readStatusSettings,
} from '../../src/action/inputs.js';
import { BOUNDS, MAX_VERSION, NAMESPACE_RULE, refusalText } from '../../src/core/contract.js';
import { checkEvidence } from '../../src/core/index.js';
import { recordingOutput } from '../../scripts/support/actionRun.js';

const reader = (inputs: Record<string, string>) => (name: string) => inputs[name] ?? '';
const minimal = { 'redis-url': 'redis://127.0.0.1:6379', 'target-state': 'validate' };

describe('readInputs', () => {
  test('applies the contract defaults to inputs left empty', () => {
    const inputs = readInputs(reader(minimal));
    expect(inputs).toMatchObject({
      redis: {
        seeds: [{ host: '127.0.0.1', port: 6379 }],
        cluster: false,
        tls: false,
        db: 0,
        display: 'redis://127.0.0.1:6379',
        secrets: [],
      },
      targetState: 'validate',
      prpId: undefined,
      evidence: {},
      ciResult: undefined,
      requireChecks: [],
      checksApp: 'github-actions',
      checksWorkflows: [],
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
        'require-checks': 'lint, unit, smoke',
        'checks-app': 'my-ci',
        'checks-workflows':
          '.github/workflows/ci.yml\n.github/workflows/smoke.yaml, .github/workflows/ci.yml',
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
      checksApp: 'my-ci',
      checksWorkflows: ['.github/workflows/ci.yml', '.github/workflows/smoke.yaml'],
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
    ['namespace', 'a:b', `must be ${NAMESPACE_RULE}`],
    ['evidence-ttl', '0', `must be an integer from 1 to ${BOUNDS.ttlMaxSeconds}`],
    [
      'evidence-ttl',
      String(BOUNDS.ttlMaxSeconds + 1),
      `must be an integer from 1 to ${BOUNDS.ttlMaxSeconds}`,
    ],
    ['evidence-ttl', '1e3', 'must be an integer'],
    ['expected-version', '-1', 'must be an integer from 0'],
    ['expected-version', String(MAX_VERSION + 1), `must be an integer from 0 to ${MAX_VERSION}`],
    ['dry-run', 'yes', 'must be true or false'],
    ['mode', 'eval', 'must be one of lua, multi'],
    ['cluster', '1', 'must be true or false'],
    ['timeout', '0', 'must be a number of seconds above 0'],
    ['timeout', '601', 'at most 600'],
    ['timeout', 'ten', 'must be a number of seconds'],
    ['checks-app', 'GitHub Actions', 'is not an app slug'],
    ['checks-workflows', 'ci.yml', 'names workflow files as .github/workflows/NAME.yml'],
    ['checks-workflows', 'CI', 'not "CI"'],
    ['checks-workflows', '.github/workflows/*.yml', 'names workflow files as'],
    ['checks-workflows', '.github/workflows/ci.yml@refs/heads/main', 'names workflow files as'],
    ['checks-workflows', 'acme/widgets/.github/workflows/ci.yml', 'names workflow files as'],
    ['checks-workflows', '.github/workflows/../../x.yml', 'names workflow files as'],
    ['allowed-branches', ',', 'names no branch'],
    ['allowed-branches', ' ,\n, ', 'names no branch'],
  ])('a bad %s (%j) fails naming the input', (name, value, problem) => {
    const read = reader({ ...minimal, [name]: value });
    expect(() => readInputs(read)).toThrow(InputError);
    expect(() => readInputs(read)).toThrow(`input ${name}: `);
    expect(() => readInputs(read)).toThrow(problem);
  });

  test('require-checks: one name per line keeps a comma inside a name (a matrix job)', () => {
    const read = (value: string) =>
      readInputs(reader({ ...minimal, 'require-checks': value })).requireChecks;
    expect(read('test (ubuntu-latest, 20)\nlint\n')).toEqual(['test (ubuntu-latest, 20)', 'lint']);
    expect(read('test (ubuntu-latest, 20)\n')).toEqual(['test (ubuntu-latest, 20)']);
    expect(read(' lint , unit,, smoke ')).toEqual(['lint', 'unit', 'smoke']); // one line: commas
    expect(read('')).toEqual([]);
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
    // RE2 bounds the product of nested counts; the outer count is named (README).
    ['nested counts of 1000 x 1000', '(\\pL{1000}){1000}', 'invalid repeat count: `{1000}`)'],
    ['nested counts of 2 x 501', 'PRP-([0-9]{2}){501}', 'invalid repeat count: `{501}`)'],
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

  test('nested counts whose product is at most 1000 are accepted', () => {
    expect(() =>
      readInputs(reader({ ...minimal, 'prp-id-pattern': 'PRP-([0-9]{2}){500}' })),
    ).not.toThrow();
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

describe('the evidence input: JSON that means one thing to every reader', () => {
  const evidence = (text: string) => readInputs(reader({ ...minimal, evidence: text })).evidence;
  const refusal = (text: string) => {
    try {
      evidence(text);
    } catch (error) {
      expect(error).toBeInstanceOf(InputError);
      return (error as Error).message;
    }
    throw new Error(`accepted: ${text}`);
  };

  test.each([
    // Numbers a double cannot hold: stored as something else (null, 0, other digits).
    [
      '{"a":1e400}',
      'input evidence: the number 1e400 at $.a is too large for a JSON number (a 64-bit ' +
        'double) and would be stored as null; write it as a string ("1e400") or use a smaller number',
    ],
    ['{"a":-1e400}', 'the number -1e400 at $.a is too large for a JSON number'],
    [
      '{"a":1e-400}',
      'input evidence: the number 1e-400 at $.a is too small for a JSON number (a 64-bit ' +
        'double) and would be stored as 0; write it as a string ("1e-400") or as 0',
    ],
    [
      '{"a":12345678901234567890}',
      'input evidence: the number 12345678901234567890 at $.a has more digits than a JSON ' +
        'number (a 64-bit double) keeps and would be stored as 12345678901234567000; write it ' +
        'as a string ("12345678901234567890") or round it to 12345678901234567000',
    ],
    [
      '{"a":0.1000000000000000000001}',
      'the number 0.1000000000000000000001 at $.a has more digits than a JSON number (a 64-bit double) keeps and would be stored as 0.1',
    ],
    ['{"a":9007199254740993}', 'would be stored as 9007199254740992'],
    ['{"a":2.5e-324}', 'the number 2.5e-324 at $.a has more digits'],
    // Where it is: a path into objects and arrays, bracketed keys where a dot would not do.
    ['{"a":{"b":[0,1,1e400]}}', 'the number 1e400 at $.a.b[2] is too large'],
    ['{"x y":[[1e999]]}', 'the number 1e999 at $["x y"][0][0] is too large'],
    ['{"a":[{},{"b":[true,null,"]",-1e-999]}]}', 'the number -1e-999 at $.a[1].b[3] is too small'],
    [`{"a":${'9'.repeat(60)}}`, `the number ${'9'.repeat(40)}… at $.a has more digits`],
    // Duplicate keys: some readers keep the first value, some the last.
    [
      '{"a":1,"a":2}',
      'input evidence: the key "a" at $.a appears twice in one object; readers disagree on ' +
        'which value counts (some take the first, some the last): keep one',
    ],
    ['{"a":{"b":1,"c":2,"b":1}}', 'the key "b" at $.a.b appears twice in one object'],
    ['{"a":[1,{"k":1,"k":[]}]}', 'the key "k" at $.a[1].k appears twice'],
    ['{"a":1,"\\u0061":2}', 'the key "a" at $.a appears twice'],
    ['{"":1,"":2}', 'the key "" at $[""] appears twice'],
    ['{"a\\"b":1, "a\\"b" : 2}', 'the key "a\\"b" at $["a\\"b"] appears twice'],
    // A lone surrogate: valid JSON, but no UTF-8 text (the script would call it "not valid
    // JSON" after connecting).
    [
      '{"note":"x\\ud800y"}',
      'input evidence: holds a lone surrogate \\uD800 at $.note: not valid UTF-8 text (half of ' +
        'a UTF-16 pair, which Redis and the script cannot read as text); write the whole pair ' +
        '(such as \\uD83D\\uDE00) or the character itself',
    ],
    ['{"a":["ok","\\uDC00"]}', 'holds a lone surrogate \\uDC00 at $.a[1]: not valid UTF-8'],
    ['{"a":"\\uDBFF\\uDBFF\\uDC00"}', 'holds a lone surrogate \\uDBFF at $.a: not valid'],
    ['{"k\\uD800":1}', 'holds a lone surrogate \\uD800 at $["k\\ud800"]: not valid UTF-8'],
  ])('%s is refused, saying where and what to do', (text, message) => {
    expect(refusal(text)).toContain(message);
  });

  test('the first problem in the text is the one reported', () => {
    expect(refusal('{"a":1e400,"a":1}')).toContain('the number 1e400 at $.a');
    expect(refusal('{"a":1,"a":1e400}')).toContain('the key "a" at $.a appears twice');
  });

  test.each([
    // The same value in another spelling is what the reader gets back: kept.
    [
      '{"a":1.0,"b":1E2,"c":-0,"d":-0.0,"e":100e-2,"f":0e400}',
      { a: 1, b: 100, c: -0, d: -0, e: 1, f: 0 },
    ],
    [
      '{"a":0.1,"b":0.30000000000000004,"c":1e300,"d":5e-324}',
      { a: 0.1, b: 0.30000000000000004, c: 1e300, d: 5e-324 },
    ],
    [
      '{"a":9007199254740992,"b":123456789012345680000,"c":1.7976931348623157e308}',
      { a: 9007199254740992, b: 123456789012345680000, c: 1.7976931348623157e308 },
    ],
    // The same key in different objects, and key-like text inside strings, are no duplicates.
    [
      '{"a":{"x":1},"b":{"x":1},"c":[{"x":1},{"x":2}]}',
      { a: { x: 1 }, b: { x: 1 }, c: [{ x: 1 }, { x: 2 }] },
    ],
    ['{"s":"\\"a\\":1,\\"a\\":2","a":"{\\"a\\":1e400}"}', { s: '"a":1,"a":2', a: '{"a":1e400}' }],
    [' \n{ "a" : [ ] , "b" : { } , "c" : [ 1 , 2 ] }\t', { a: [], b: {}, c: [1, 2] }],
  ])('%s is accepted as it reads', (text, expected) => {
    expect(evidence(text)).toEqual(expected);
  });

  test('whatever JSON.stringify writes is accepted as it is (numbers round-trip, keys are unique)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.jsonValue()),
        fc.constantFrom(undefined, 2, '\t'),
        (value, indent) => {
          expect(evidence(JSON.stringify(value, null, indent))).toEqual(
            JSON.parse(JSON.stringify(value)),
          );
        },
      ),
    );
  });

  test('deep nesting is walked without recursion', () => {
    const depth = BOUNDS.evidenceMaxDepth - 1; // in the object: as deep as may be
    expect(refusal(`{"a":${'['.repeat(depth)}1e400${']'.repeat(depth)}}`)).toContain(
      `at $.a${'[0]'.repeat(3)}`,
    );
  });
});

describe('the evidence input: nesting at most BOUNDS.evidenceMaxDepth deep, as the script reads', () => {
  const MAX = BOUNDS.evidenceMaxDepth;
  const evidence = (text: string) => readInputs(reader({ ...minimal, evidence: text })).evidence;
  /** An object holding `field`, nested so that arrays and objects are `depth` deep in all. */
  const nested = (depth: number, kind: 'array' | 'object', inner = '1') => {
    const [open, close] = kind === 'array' ? ['[', ']'] : ['{"a":', '}'];
    return `{"validator_approval":"ok","deep":${open.repeat(depth - 1)}${inner}${close.repeat(depth - 1)}}`;
  };
  const tooDeep = (depth: number) =>
    `input evidence: arrays and objects are nested ${depth} deep; at most ${MAX} levels are ` +
    "allowed (the script's JSON reader reads no deeper): flatten the structure, or store its " +
    'deepest part as a string';

  test.each(['array', 'object'] as const)(
    'a 20,000-deep %s is refused, naming the depth and the bound',
    (kind) => {
      expect(() => evidence(nested(20_000, kind))).toThrow(tooDeep(20_000));
    },
  );

  test('a 20,000-deep array as the whole input is refused for its depth too', () => {
    expect(() => evidence(`${'['.repeat(20_000)}${']'.repeat(20_000)}`)).toThrow(tooDeep(20_000));
  });

  test.each([
    ['array', '1'],
    ['object', '1'],
    ['array', '[]'], // an empty array is a level
    ['object', '{}'],
  ] as const)(
    `${MAX} deep is accepted and ${MAX + 1} refused (%s, innermost %s), as checkEvidence and the script judge`,
    (kind, inner) => {
      // The innermost value adds a level when it is itself an array or object.
      const extra = inner === '1' ? 0 : 1;
      const atBound = nested(MAX - extra, kind, inner);
      const past = nested(MAX + 1 - extra, kind, inner);
      expect(evidence(atBound)).toEqual(JSON.parse(atBound));
      expect(() => evidence(past)).toThrow(tooDeep(MAX + 1));
      // The core's check (zod path), which holds the script's verdicts in the shared vectors.
      expect(
        checkEvidence(
          'validate',
          'complete',
          atBound.replace('{', `{"quality_gates_passed":true,"merge_commit":"${'0'.repeat(40)}",`),
        ),
      ).toBeTruthy();
      expect(() =>
        checkEvidence('validate', 'complete', past.replace('{', '{"quality_gates_passed":true,')),
      ).toThrow(`PRP_EVIDENCE_INVALID ${refusalText('evidenceNotJson')}`);
    },
  );

  test('brackets inside strings are text, not nesting', () => {
    const text = JSON.stringify({
      validator_approval: 'ok',
      s: '['.repeat(5000),
      k: { '{{{{': '"]' },
    });
    expect(evidence(text)).toEqual(JSON.parse(text));
  });
});

describe('maskSecrets', () => {
  afterEach(() => vi.restoreAllMocks());

  test('masks the URL, its password raw and decoded, and the token', () => {
    const masked: string[] = [];
    const secrets = maskSecrets(
      reader({ 'redis-url': 'redis://u:p%40ss@host:6379', 'github-token': 'ghs_tok' }),
      { ...recordingOutput(), setSecret: (secret) => void masked.push(`::add-mask::${secret}`) },
    );
    expect(secrets).toEqual(['p%40ss', 'p@ss', 'ghs_tok']);
    expect(masked).toEqual([
      '::add-mask::redis://u:p%40ss@host:6379',
      '::add-mask::p%40ss',
      '::add-mask::p@ss',
      '::add-mask::ghs_tok',
    ]);
  });

  test('masks nothing when there is nothing to mask', () => {
    const output = recordingOutput();
    maskSecrets(reader({}), output);
    expect(output.stdout).toBe('');
  });
});

describe('demote/ and status/ inputs', () => {
  const url = { 'redis-url': 'redis://127.0.0.1:6379' };

  test('demote: the defaults, and every input when given', () => {
    expect(
      readDemoteSettings(reader({ ...url, 'target-state': 'development', reason: 'r' }), {}),
    ).toMatchObject({
      targetState: 'development',
      reason: 'r',
      prpId: undefined,
      evidence: {},
      ciResult: undefined,
      namespace: 'prp',
      evidenceTtl: 2_592_000,
      expectedVersion: undefined,
      dryRun: false,
      mode: 'lua',
      cluster: false,
      timeoutSeconds: 10,
    });
    const given = readDemoteSettings(
      reader({
        ...url,
        'target-state': 'pending',
        reason: 'validate failed',
        'prp-id': 'PRP-9',
        'prp-id-pattern': 'TICKET-[0-9]+',
        evidence: '{"failing_job": "validate"}',
        'ci-result': 'failure',
        namespace: 'team',
        'evidence-ttl': '60',
        'expected-version': '3',
        'dry-run': 'true',
        mode: 'multi',
        timeout: '2.5',
      }),
      {},
    );
    expect(given).toMatchObject({
      targetState: 'pending',
      prpId: 'PRP-9',
      evidence: { failing_job: 'validate' },
      ciResult: 'failure',
      namespace: 'team',
      evidenceTtl: 60,
      expectedVersion: 3,
      dryRun: true,
      mode: 'multi',
      timeoutSeconds: 2.5,
    });
    expect(given.prpIdPattern.source).toBe('TICKET-[0-9]+');
  });

  test.each([
    [{ 'target-state': 'development' }, 'input reason: is required'],
    [{ 'target-state': 'released', reason: 'r' }, 'input target-state: must be one of'],
    [{ 'target-state': 'pending', reason: 'r', 'ci-result': 'red' }, 'input ci-result:'],
    [{ 'target-state': 'pending', reason: 'r', cluster: 'true', mode: 'multi' }, 'input mode:'],
  ])('demote refuses %j', (given, message) => {
    expect(() => readDemoteSettings(reader({ ...url, ...given }), {})).toThrow(message);
  });

  test('demote: REDIS_LUA_PROMOTION_ENABLED=false selects the fallback', () => {
    const read = reader({ ...url, 'target-state': 'pending', reason: 'r' });
    expect(readDemoteSettings(read, { REDIS_LUA_PROMOTION_ENABLED: 'false' }).mode).toBe('multi');
  });

  test('status: 20 history entries by default, 0 to 1000 when given', () => {
    expect(readStatusSettings(reader(url))).toMatchObject({ history: 20, namespace: 'prp' });
    expect(readStatusSettings(reader({ ...url, history: '0' })).history).toBe(0);
    expect(readStatusSettings(reader({ ...url, history: '1000' })).history).toBe(1000);
    expect(() => readStatusSettings(reader({ ...url, history: '1001' }))).toThrow(
      'input history: must be an integer from 0 to 1000',
    );
    expect(() => readStatusSettings(reader({ 'redis-url': '' }))).toThrow('input redis-url:');
  });
});
