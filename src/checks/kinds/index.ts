import type { KindDefinition } from '../types';

import { approvalsKind } from './approvals';
import { columnsKind } from './columns';
import { commercemlCountKind } from './commerceml-count';
import { djangoMigrationsKind } from './django-migrations';
import { fileKind } from './file';
import { httpKind } from './http';
import { sqlKind } from './sql';
import { unchangedKind } from './unchanged';

/** Every check kind by name. */
export const KINDS: ReadonlyMap<string, KindDefinition<unknown>> = new Map(
  [
    sqlKind,
    columnsKind,
    unchangedKind,
    fileKind,
    httpKind,
    commercemlCountKind,
    djangoMigrationsKind,
    approvalsKind,
  ].map((k) => [k.kind, k as KindDefinition<unknown>]),
);
