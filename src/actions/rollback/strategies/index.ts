import { inPlace } from './in-place';
import { rollbackPitr } from './pitr';
import { snapshot } from './snapshot';
import { swap } from './swap';
import type { RollbackStrategy } from './types';

/** The rollback strategies by the `strategy` input's value. A new strategy is a new file and one entry here. */
export const STRATEGIES = {
  swap,
  snapshot,
  'in-place': inPlace,
} as const satisfies Record<string, RollbackStrategy>;

/**
 * Strategies that replace the whole cluster (a physical restore): they verify their own kind of
 * manifest, take the lock on the maintenance database and stop the cluster, so they run their own
 * sequence and hand over to the common steps after the cut-over (code, start, health).
 */
export const CLUSTER_STRATEGIES = {
  pitr: rollbackPitr,
} as const;

export type DatabaseStrategy = keyof typeof STRATEGIES;
export type ClusterStrategy = keyof typeof CLUSTER_STRATEGIES;
export type Strategy = DatabaseStrategy | ClusterStrategy;

export const STRATEGY_NAMES = [...Object.keys(STRATEGIES), ...Object.keys(CLUSTER_STRATEGIES)] as Strategy[];

export function isClusterStrategy(name: Strategy): name is ClusterStrategy {
  return name in CLUSTER_STRATEGIES;
}

export function strategyFor(name: Strategy): RollbackStrategy | undefined {
  return isClusterStrategy(name) ? undefined : STRATEGIES[name];
}

export type { EarlierRun, Prepared, RollbackStrategy, StrategyRun } from './types';
export type { AfterCutover } from './pitr';
