"""DATABASE_URL parsing (postgres://user:password@host:port/name?options).

The password is percent-decoded; it is never printed or logged. A socket
directory may be given as a percent-encoded host (postgres://u:p@%2Ftmp%2Fpg/db)
or as a `host=` query parameter (postgres://u:p@/db?host=/tmp/pg).
"""
from urllib.parse import parse_qs, unquote, urlsplit

SCHEMES = ('postgres', 'postgresql', 'pgsql')


class DatabaseUrlError(ValueError):
    pass


def parse_database_url(url):
    if not url:
        raise DatabaseUrlError('DATABASE_URL is not set (expected postgres://user:password@host:port/name)')
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise DatabaseUrlError(
            'DATABASE_URL has scheme %r; expected one of %s' % (parts.scheme, ', '.join(SCHEMES)))
    name = unquote(parts.path.lstrip('/'))
    if not name:
        raise DatabaseUrlError('DATABASE_URL names no database (postgres://user:password@host:port/NAME)')
    # urlsplit's .hostname lowercases and .port raises on junk; split netloc ourselves.
    netloc = parts.netloc.rsplit('@', 1)[-1]
    host, port = netloc, ''
    if netloc.startswith('['):
        host, _, rest = netloc[1:].partition(']')
        port = rest.lstrip(':')
    elif ':' in netloc:
        host, port = netloc.rsplit(':', 1)
    if port and not port.isdigit():
        raise DatabaseUrlError('DATABASE_URL has a port that is not a number: %r' % port)
    options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = unquote(options.pop('host', host))
    port = options.pop('port', port)
    config = {
        'ENGINE': 'django.db.backends.postgresql',
        'NAME': name,
        'USER': unquote(parts.username or ''),
        'PASSWORD': unquote(parts.password or ''),
        'HOST': host,
        'PORT': port,
        'OPTIONS': options,
    }
    return config
