import { calledNames, deniedFunction, deniedInText } from '../../src/checks/sql-guard';

test('calledNames finds calls, qualified, quoted and spaced, and lower-cases unquoted names', () => {
  expect(
    calledNames(
      `SELECT Count(*), pg_catalog.LO_EXPORT (1, 'x'), "Weird ""fn"""(2), now() FROM t WHERE a IN (1)`,
    ),
  ).toEqual(['count', 'lo_export', 'Weird "fn"', 'now', 'in']);
});

test('the deny-list covers effects outside the transaction and leaves reading functions alone', () => {
  for (const name of [
    'dblink',
    'dblink_exec',
    'dblink_connect_u',
    'pg_terminate_backend',
    'pg_cancel_backend',
    'pg_create_physical_replication_slot',
    'pg_create_logical_replication_slot',
    'pg_drop_replication_slot',
    'lo_export',
    'lo_import',
    'lowrite',
    'pg_file_write',
    'pg_reload_conf',
    'pg_switch_wal',
    'pg_advisory_lock',
    'set_config',
    'nextval',
    'setval',
    'query_to_xml',
  ])
    expect([name, deniedFunction(name)]).toEqual([name, true]);
  for (const name of ['count', 'now', 'random', 'pg_database_size', 'currval', 'coalesce', 'lower'])
    expect([name, deniedFunction(name)]).toEqual([name, false]);
  expect(deniedInText(`SELECT dblink_exec('x', 'DELETE FROM t'), lo_export(1, '/tmp/x')`)).toEqual([
    'dblink_exec',
    'lo_export',
  ]);
});
