import { STATES, type State } from './contract.js';

/** The states a PRP moves through, in order (CONTRACT.md section 1; the table: contract.ts). */
export { STATES, type State };

/** The states a promotion can move to: every state but the first. */
export const TARGET_STATES = STATES.slice(1) as Exclude<State, 'pending'>[];

export function isState(value: string): value is State {
  return (STATES as readonly string[]).includes(value);
}

/** The state a promotion to `to` comes from, or undefined when `to` has none. */
export function previousState(to: string): State | undefined {
  const index = STATES.indexOf(to as State);
  return index > 0 ? STATES[index - 1] : undefined;
}
