#!/usr/bin/env python3
"""GET a URL and check the answer: http_check.py URL STATUS [PYTHON-EXPRESSION over `body`, `headers`].

Prints the JSON body on failure and exits 1. Used by the release checks.
"""
import json
import sys
import urllib.error
import urllib.request


def main():
    url, expected = sys.argv[1], int(sys.argv[2])
    checks = sys.argv[3:]
    try:
        response = urllib.request.urlopen(url, timeout=10)
    except urllib.error.HTTPError as exc:
        response = exc
    raw = response.read().decode('utf-8')
    body = json.loads(raw) if raw.startswith(('{', '[')) else raw
    headers = dict(response.headers)
    failed = [] if response.status == expected else ['status %s, expected %s' % (response.status, expected)]
    failed += [check for check in checks if not eval(check, {'body': body, 'headers': headers})]  # noqa: S307
    if failed:
        print('FAIL %s: %s\n%s' % (url, '; '.join(failed), raw[:2000]), file=sys.stderr)
        sys.exit(1)
    print('ok   %s %s' % (url, ' '.join(checks)))


if __name__ == '__main__':
    main()
