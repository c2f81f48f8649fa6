/**
 * Each action's input and output names, as its action.yml declares them: generated from the
 * four action.yml files by npm run generate (scripts/generateActionIo.ts); do not edit.
 * The action.yml files are the one declaration: the TypeScript reads and sets a name through
 * these types, so a name an action does not declare is a compile error.
 */

export const ACTION_IO = {
  promote: {
    file: 'action.yml',
    inputs: [
      'redis-url',
      'target-state',
      'prp-id',
      'prp-id-pattern',
      'evidence',
      'ci-result',
      'require-checks',
      'checks-app',
      'checks-workflows',
      'allowed-branches',
      'github-token',
      'namespace',
      'evidence-ttl',
      'expected-version',
      'dry-run',
      'mode',
      'cluster',
      'provenance',
      'timeout',
    ],
    outputs: [
      'result',
      'promoted',
      'prp-id',
      'from-state',
      'to-state',
      'version',
      'evidence-key',
      'provenance',
      'script-sha',
    ],
  },
  demote: {
    file: 'demote/action.yml',
    inputs: [
      'redis-url',
      'target-state',
      'reason',
      'prp-id',
      'prp-id-pattern',
      'evidence',
      'ci-result',
      'namespace',
      'evidence-ttl',
      'expected-version',
      'dry-run',
      'mode',
      'cluster',
      'provenance',
      'timeout',
    ],
    outputs: [
      'result',
      'demoted',
      'prp-id',
      'from-state',
      'to-state',
      'version',
      'provenance',
      'evidence-key',
    ],
  },
  status: {
    file: 'status/action.yml',
    inputs: [
      'redis-url',
      'prp-id',
      'prp-id-pattern',
      'namespace',
      'history',
      'cluster',
      'oidc-issuer',
      'trusted-workflows',
      'allowed-branches',
      'timeout',
    ],
    outputs: [
      'found',
      'prp-id',
      'state',
      'version',
      'updated-at',
      'updated-by',
      'evidence-key',
      'evidence',
      'history',
      'verified',
      'verify-problem',
    ],
  },
  health: {
    file: 'health/action.yml',
    inputs: [
      'redis-url',
      'namespace',
      'max-script-error-rate',
      'max-latency-us',
      'min-calls',
      'max-evidence-refusal-rate',
      'check-eviction',
      'fail-on-alert',
      'cluster',
      'timeout',
    ],
    outputs: ['alert', 'fired', 'report'],
  },
} as const satisfies Record<string, ActionIo>;

/** An action's declared names: one of ACTION_IO's entries. */
export interface ActionIo {
  readonly file: string;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
}

export type ActionName = keyof typeof ACTION_IO;
/** The input names the action declares. */
export type InputOf<A extends ActionName> = (typeof ACTION_IO)[A]['inputs'][number];
/** The output names the action declares. */
export type OutputOf<A extends ActionName> = (typeof ACTION_IO)[A]['outputs'][number];
/** Any action's input name (InputError names one). */
export type AnyInput = InputOf<ActionName>;
/** Any action's output name. */
export type AnyOutput = OutputOf<ActionName>;
/** The input names every one of the actions A declares (what a reader they share may read). */
export type SharedInputOf<A extends ActionName> = Exclude<
  AnyInput,
  A extends ActionName ? Exclude<AnyInput, InputOf<A>> : never
>;
/** The output names every one of the actions A declares. */
export type SharedOutputOf<A extends ActionName> = Exclude<
  AnyOutput,
  A extends ActionName ? Exclude<AnyOutput, OutputOf<A>> : never
>;
