import { REFUSALS, refusalText, type RefusalName } from './contract.js';
import { PromotionError } from './errors.js';

/** The contract's refusal `name` (REFUSALS), filled with `values`, as the script gives it. */
export const refusal = (name: RefusalName, ...values: (string | number)[]): PromotionError =>
  new PromotionError(REFUSALS[name].code, refusalText(name, ...values));
