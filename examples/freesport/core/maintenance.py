"""Maintenance mode: a flag file `maintenance.json` in FREESPORT_MAINTENANCE_DIR.

A file, not a database row, so that the flag stays where it is while the database
is restored, renamed or unreachable, and whichever release of the code is deployed.
Every instance that shares the directory sees a change at its next request.
"""
import json
import os
import tempfile
from datetime import datetime, timezone

from django.conf import settings

FLAG_NAME = 'maintenance.json'


def flag_path():
    return os.path.join(settings.FREESPORT_MAINTENANCE_DIR, FLAG_NAME)


def status():
    """None when off, else the flag's content (a dict with `since` and `reason`)."""
    try:
        with open(flag_path(), encoding='utf-8') as f:
            text = f.read()
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        data = {}
    return data if isinstance(data, dict) else {}


def is_on():
    return os.path.exists(flag_path())


def enable(reason=''):
    directory = settings.FREESPORT_MAINTENANCE_DIR
    os.makedirs(directory, exist_ok=True)
    data = {'since': datetime.now(timezone.utc).isoformat(timespec='seconds'), 'reason': reason}
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.maintenance-')
    with os.fdopen(fd, 'w', encoding='utf-8') as f:
        json.dump(data, f)
    os.chmod(tmp, 0o644)
    os.replace(tmp, flag_path())  # atomic: readers see the old state or the new one
    return data


def disable():
    try:
        os.remove(flag_path())
        return True
    except FileNotFoundError:
        return False
