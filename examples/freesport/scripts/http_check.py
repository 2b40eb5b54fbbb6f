#!/usr/bin/env python3
"""GET a URL and check the answer:
  http_check.py [-H 'Name: value']... URL STATUS [PYTHON-EXPRESSION over `body`, `headers`]...

Prints the JSON body on failure and exits 1. Used by the release checks.
"""
import json
import sys
import urllib.error
import urllib.request


def main():
    args = sys.argv[1:]
    request_headers = {}
    while len(args) >= 2 and args[0] == '-H':
        name, _, value = args[1].partition(':')
        request_headers[name.strip()] = value.strip()
        args = args[2:]
    url, expected = args[0], int(args[1])
    checks = args[2:]
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=request_headers), timeout=10)
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
    shown = ' (with %s)' % ', '.join(sorted(request_headers)) if request_headers else ''
    print('ok   %s%s %s' % (url, shown, ' '.join(checks)))


if __name__ == '__main__':
    main()
