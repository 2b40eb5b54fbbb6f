import { runAction } from '../../common/run-action';

import { run } from './main';

void runAction(run);
