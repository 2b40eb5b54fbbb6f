#!/usr/bin/env python3
"""One customer's visit through the shop's API: register (if new), log in, put the first product of the
catalog in the cart (its first variant in 2.0), place the order. Prints the order's id and number.

  shop_customer.py BASE_URL USERNAME PASSWORD      exit 1 with the failing answer on any error

Used by the release checks; test/e2e/customer.ts does the same in a loop.
"""
import json
import sys
import urllib.error
import urllib.request


def call(method, url, data=None, token=None):
    headers = {'Content-Type': 'application/json', 'Accept': 'application/json'}
    if token:
        headers['Authorization'] = 'Token ' + token
    body = None if data is None else json.dumps(data).encode('utf-8')
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        response = urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as exc:
        response = exc
    raw = response.read().decode('utf-8')
    return response.status, (json.loads(raw) if raw.startswith(('{', '[')) else raw)


def expect(what, answer, *statuses):
    status, body = answer
    if status not in statuses:
        sys.exit('customer: %s answered %s: %s' % (what, status, str(body)[:500]))
    return body


def main():
    base, username, password = sys.argv[1].rstrip('/'), sys.argv[2], sys.argv[3]
    expect('register', call('POST', base + '/api/v1/auth/register/',
                            {'username': username, 'password': password}), 201, 409)
    token = expect('login', call('POST', base + '/api/v1/auth/login/',
                                 {'username': username, 'password': password}), 200)['token']
    slug = expect('product list', call('GET', base + '/api/v1/products/'), 200)['results'][0]['slug']
    detail = expect('product', call('GET', '%s/api/v1/products/%s/' % (base, slug)), 200)
    line = {'product': slug, 'quantity': 2}
    if detail.get('variants'):
        line['variant'] = detail['variants'][0]['id']
    expect('cart', call('POST', base + '/api/v1/cart/', line, token), 201)
    order = expect('order', call('POST', base + '/api/v1/orders/', {'delivery_address': 'Москва'}, token), 201)
    print('order id=%s number=%s total=%s' % (order['id'], order['number'], order['total_amount']))


if __name__ == '__main__':
    main()
