#!/usr/bin/env python3
"""The shop's background worker (it stands for the Celery workers): it beats, writing a heartbeat file
once a second, and stops cleanly on SIGTERM or SIGINT after the beat in hand.

  worker.py --heartbeat FILE [--interval SECONDS]

Started and stopped by scripts/workers.sh. The heartbeat file is JSON: {"pid", "at", "beats"},
replaced atomically, so a reader never sees half of it.
"""
import argparse
import json
import os
import signal
import sys
import time
from datetime import datetime, timezone

stopping = False


def stop(signum, frame):  # noqa: ARG001
    global stopping
    stopping = True


def beat(path, beats):
    data = {'pid': os.getpid(), 'at': datetime.now(timezone.utc).isoformat(timespec='milliseconds'),
            'beats': beats}
    tmp = '%s.%d.tmp' % (path, os.getpid())
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(data, f)
    os.replace(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--heartbeat', required=True)
    parser.add_argument('--interval', type=float, default=1.0)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    beats = 0
    print('worker %d started, heartbeat %s' % (os.getpid(), args.heartbeat), flush=True)
    while not stopping:
        beats += 1
        beat(args.heartbeat, beats)
        deadline = time.monotonic() + args.interval
        while not stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, args.interval))
    print('worker %d stopped after %d beats' % (os.getpid(), beats), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
