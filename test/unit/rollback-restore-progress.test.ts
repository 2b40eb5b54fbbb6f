import { isRestoreProgress } from '../../src/postgres/restore';

test.each([
  'pg_restore: processing data for table "public.products"',
  'pg_restore:pg_restore: processing data for table "public.products"',
  'pg_restore: launching item 3367 TABLE DATA orders',
  'pg_restore: finished item 3367 TABLE DATA orderspg_restore: launching item 3368 INDEX x',
  'launching item 3368 INDEX products_pkey',
  'pg_restore: entering main parallel loop',
  'pg_restore: ',
])('a progress message stays out of the log: %j', (line) => {
  expect(isRestoreProgress(line)).toBe(true);
});

test.each([
  'pg_restore: error: could not execute query: ERROR:  relation "x" already exists',
  'pg_restore: processing item 12 error: cut off by the test',
  'pg_restore: warning: errors ignored on restore: 1',
  'pg_restore: from TOC entry 3367; 0 16390 TABLE DATA orders postgres',
  'Command was: CREATE TABLE public.x (id integer);',
])('an error, a warning or its context reaches the log: %j', (line) => {
  expect(isRestoreProgress(line)).toBe(false);
});
