#!/usr/bin/env python3
"""Write a deterministic 1C CommerceML 2 export: goods.xml, offers.xml, prices.xml, rests.xml.

  generate_commerceml.py --out DIR [--products 2020] [--variants-per-product 3] [--seed 1]
                         [--unknown-colors N] [--no-bom] [--no-namespace] [--only-changes]

By default the files look like a real export: UTF-8 with a BOM, xmlns="urn:1C.ru:commerceml_2",
СодержитТолькоИзменения="false", offer ids of the form product#characteristic. Files are written
line by line, so any size works.
"""
import argparse
import os
import random
import sys
import uuid
from xml.sax.saxutils import escape

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from products.colors import BASE_COLORS  # noqa: E402

UNKNOWN_COLORS = ['Фуксия', 'Мятный', 'Лаймовый', 'Коралловый']
SIZES = ['XS', 'S', 'M', 'L', 'XL', 'XXL', '38', '40', '42', '44', '46']
KINDS = ['Кроссовки', 'Футболка', 'Куртка', 'Брюки', 'Мяч', 'Рюкзак', 'Шорты', 'Толстовка', 'Кепка', 'Носки']
BRANDS = ['Nike', 'Adidas', 'Puma', 'Reebok', 'Asics', 'Demix', 'Jogel', 'Kappa', 'Mizuno', 'Torres',
          'Select', 'Mikasa', 'Umbro', 'Joma', 'Salomon']
GROUPS = [('Обувь', ['Беговая обувь', 'Футбольные бутсы', 'Кеды']),
          ('Одежда', ['Футболки', 'Куртки', 'Брюки и шорты']),
          ('Инвентарь', ['Мячи', 'Рюкзаки и сумки', 'Аксессуары'])]


def ident(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


class Writer:
    def __init__(self, path, bom, namespace, stamp):
        self.f = open(path, 'w', encoding='utf-8-sig' if bom else 'utf-8', newline='\n')
        ns = ' xmlns="urn:1C.ru:commerceml_2" xmlns:xs="http://www.w3.org/2001/XMLSchema"' if namespace else ''
        self.f.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        self.f.write('<КоммерческаяИнформация%s ВерсияСхемы="2.10" ДатаФормирования="%s">\n' % (ns, stamp))

    def line(self, depth, text):
        self.f.write('\t' * depth + text + '\n')

    def el(self, depth, tag, value):
        self.line(depth, '<%s>%s</%s>' % (tag, escape(str(value)), tag))

    def close(self):
        self.f.write('</КоммерческаяИнформация>\n')
        self.f.close()


def header(args):
    rng = random.Random(args.seed)
    catalog_id, classifier_id = ident(rng), ident(rng)
    groups = []  # (id, name, [(child id, child name)])
    for name, children in GROUPS:
        groups.append((ident(rng), name, [(ident(rng), child) for child in children]))
    brands = [(ident(rng), name) for name in BRANDS]
    return catalog_id, classifier_id, groups, brands, ident(rng), ident(rng)


def iter_products(args, groups, brands):
    """The products, regenerated identically for each file (nothing is held in memory)."""
    rng = random.Random(args.seed * 7919 + 1)
    leaves = [gid for _, _, children in groups for gid, _ in children]
    total = args.products * args.variants_per_product
    step = max(1, total // args.unknown_colors) if args.unknown_colors else 0
    k = 0
    for n in range(args.products):
        pid = ident(rng)
        kind, brand_name = rng.choice(KINDS), rng.choice(BRANDS)
        variants = []
        for v in range(args.variants_per_product):
            color = BASE_COLORS[(n + v) % len(BASE_COLORS)][0]
            if step and k % step == 0 and k // step < args.unknown_colors:
                color = UNKNOWN_COLORS[(k // step) % len(UNKNOWN_COLORS)]
            k += 1
            retail = rng.randint(490, 24990)
            variants.append({'id': '%s#%s' % (pid, ident(rng)), 'sku': 'FS-%05d-%02d' % (n + 1, v + 1),
                             'color': color, 'size': SIZES[(n * 7 + v) % len(SIZES)],
                             'retail': retail, 'opt': round(retail * 0.7, 2), 'stock': rng.randint(0, 40)})
        yield {'id': pid, 'name': '%s %s модель %d' % (kind, brand_name, n + 1),
               'article': 'FS-%05d' % (n + 1), 'group': rng.choice(leaves),
               'brand': rng.choice(brands), 'variants': variants}


def write_groups(w, depth, groups):
    w.line(depth, '<Группы>')
    for gid, name, *children in groups:
        w.line(depth + 1, '<Группа>')
        w.el(depth + 2, 'Ид', gid)
        w.el(depth + 2, 'Наименование', name)
        if children and children[0]:
            write_groups(w, depth + 2, [(cid, cname) for cid, cname in children[0]])
        w.line(depth + 1, '</Группа>')
    w.line(depth, '</Группы>')


def write_all(args):
    catalog_id, classifier_id, groups, brands, retail_id, opt_id = header(args)
    os.makedirs(args.out, exist_ok=True)
    changes = 'true' if args.only_changes else 'false'
    stamp = '2025-12-02T02:20:00'
    open_file = lambda name: Writer(os.path.join(args.out, name), args.bom, args.namespace, stamp)  # noqa: E731

    w = open_file('goods.xml')
    w.line(1, '<Классификатор>')
    w.el(2, 'Ид', classifier_id)
    w.el(2, 'Наименование', 'Классификатор (Основной каталог товаров)')
    write_groups(w, 2, groups)
    w.line(1, '</Классификатор>')
    w.line(1, '<Каталог СодержитТолькоИзменения="%s">' % changes)
    w.el(2, 'Ид', catalog_id)
    w.el(2, 'ИдКлассификатора', classifier_id)
    w.el(2, 'Наименование', 'Основной каталог товаров')
    w.line(2, '<Товары>')
    for p in iter_products(args, groups, brands):
        w.line(3, '<Товар>')
        w.el(4, 'Ид', p['id'])
        w.el(4, 'Артикул', p['article'])
        w.el(4, 'Наименование', p['name'])
        w.line(4, '<Группы><Ид>%s</Ид></Группы>' % p['group'])
        w.el(4, 'Описание', 'Товар %s для тренировок & соревнований' % p['name'])
        w.line(4, '<Изготовитель><Ид>%s</Ид><Наименование>%s</Наименование></Изготовитель>' % p['brand'])
        w.line(3, '</Товар>')
    w.line(2, '</Товары>')
    w.line(1, '</Каталог>')
    w.close()

    def package(name, body, price_types=False):
        w = open_file(name)
        w.line(1, '<ПакетПредложений СодержитТолькоИзменения="%s">' % changes)
        w.el(2, 'Ид', catalog_id + '#')
        w.el(2, 'Наименование', 'Пакет предложений')
        w.el(2, 'ИдКаталога', catalog_id)
        w.el(2, 'ИдКлассификатора', classifier_id)
        if price_types:
            w.line(2, '<ТипыЦен>')
            for tid, tname in ((retail_id, 'Розничная'), (opt_id, 'Оптовая')):
                w.line(3, '<ТипЦены><Ид>%s</Ид><Наименование>%s</Наименование><Валюта>RUB</Валюта></ТипЦены>'
                       % (tid, tname))
            w.line(2, '</ТипыЦен>')
        w.line(2, '<Предложения>')
        for p in iter_products(args, groups, brands):
            for v in p['variants']:
                w.line(3, '<Предложение>')
                w.el(4, 'Ид', v['id'])
                body(w, p, v)
                w.line(3, '</Предложение>')
        w.line(2, '</Предложения>')
        w.line(1, '</ПакетПредложений>')
        w.close()

    def offer(w, p, v):
        w.el(4, 'Артикул', v['sku'])
        w.el(4, 'Наименование', '%s (%s, %s)' % (p['name'], v['color'], v['size']))
        w.line(4, '<ХарактеристикиТовара>')
        for key in ('Цвет', 'Размер'):
            w.line(5, '<ХарактеристикаТовара><Наименование>%s</Наименование><Значение>%s</Значение>'
                      '</ХарактеристикаТовара>' % (key, escape(v['color'] if key == 'Цвет' else v['size'])))
        w.line(4, '</ХарактеристикиТовара>')

    def price(w, p, v):
        w.line(4, '<Цены>')
        for tid, value in ((retail_id, v['retail']), (opt_id, v['opt'])):
            w.line(5, '<Цена><Представление>%.2f RUB за шт</Представление><ИдТипаЦены>%s</ИдТипаЦены>'
                      '<ЦенаЗаЕдиницу>%.2f</ЦенаЗаЕдиницу><Валюта>RUB</Валюта><Единица>шт</Единица></Цена>'
                   % (value, tid, value))
        w.line(4, '</Цены>')

    def rest(w, p, v):
        w.line(4, '<Остатки><Остаток><Количество>%d</Количество></Остаток></Остатки>' % v['stock'])

    package('offers.xml', offer)
    package('prices.xml', price, price_types=True)
    package('rests.xml', rest)
    return args.products, args.products * args.variants_per_product


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True)
    parser.add_argument('--products', type=int, default=2020)
    parser.add_argument('--variants-per-product', type=int, default=3)
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--unknown-colors', type=int, default=0, help='variants given a colour outside the base 20')
    parser.add_argument('--bom', dest='bom', action='store_true', default=True, help='UTF-8 BOM (default)')
    parser.add_argument('--no-bom', dest='bom', action='store_false')
    parser.add_argument('--namespace', dest='namespace', action='store_true', default=True,
                        help='xmlns="urn:1C.ru:commerceml_2" (default)')
    parser.add_argument('--no-namespace', dest='namespace', action='store_false')
    parser.add_argument('--only-changes', action='store_true', help='mark the files СодержитТолькоИзменения="true"')
    args = parser.parse_args()
    if args.products < 0 or args.variants_per_product < 0 or args.unknown_colors < 0:
        parser.error('counts must not be negative')
    products, variants = write_all(args)
    print('wrote %s: products=%d variants=%d' % (args.out, products, variants))


if __name__ == '__main__':
    main()
