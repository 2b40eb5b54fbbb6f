import * as core from '@actions/core';

import { runAction } from '../../src/common/run-action';
import { onCleanup } from '../../src/process/cleanup';

describe('runAction', () => {
  let failed: jest.SpyInstance;
  let exit: jest.SpyInstance;
  beforeEach(() => {
    failed = jest.spyOn(core, 'setFailed').mockImplementation(() => undefined);
    exit = jest.spyOn(process, 'exit').mockImplementation(() => undefined as never);
  });
  afterEach(() => {
    failed.mockRestore();
    exit.mockRestore();
    process.exitCode = undefined;
  });

  it('a thrown error fails the run with its message and runs the cleanups', async () => {
    const cleaned: string[] = [];
    await runAction(() => {
      onCleanup('start-command', () => {
        cleaned.push('start-command');
        return Promise.resolve();
      });
      return Promise.reject(new Error('pg_dump failed'));
    });
    expect(failed).toHaveBeenCalledWith('pg_dump failed');
    expect(cleaned).toEqual(['start-command']);
    expect(exit).not.toHaveBeenCalled();
  });

  it('a promise rejected where nothing awaits it fails the run the same way, runs the cleanups and exits', async () => {
    const cleaned: string[] = [];
    await runAction(async () => {
      onCleanup('start-command', () => {
        cleaned.push('start-command');
        return Promise.resolve();
      });
      // What Node emits for a rejection no one handles (jest keeps real ones to itself), while
      // run() waits for something that never comes.
      setTimeout(
        () =>
          process.emit(
            'unhandledRejection',
            new Error('connect ECONNREFUSED 127.0.0.1:9'),
            Promise.resolve(),
          ),
        10,
      );
      await new Promise(() => undefined);
    });
    expect(failed).toHaveBeenCalledTimes(1);
    expect(failed).toHaveBeenCalledWith(
      'Unexpected failure (a promise rejected with nothing awaiting it): connect ECONNREFUSED 127.0.0.1:9',
    );
    expect(cleaned).toEqual(['start-command']);
    expect(exit).toHaveBeenCalledWith(1);
  });
});
