import { inPlace } from './in-place';
import { snapshot } from './snapshot';
import { swap } from './swap';
import type { RollbackStrategy } from './types';

/** The rollback strategies by the `strategy` input's value. A new strategy is a new file and one entry here. */
export const STRATEGIES = {
  swap,
  snapshot,
  'in-place': inPlace,
} as const satisfies Record<string, RollbackStrategy>;

export type Strategy = keyof typeof STRATEGIES;

export const STRATEGY_NAMES = Object.keys(STRATEGIES) as Strategy[];

export function strategyFor(name: Strategy): RollbackStrategy {
  return STRATEGIES[name];
}

export type { EarlierRun, Prepared, RollbackStrategy, StrategyRun } from './types';
