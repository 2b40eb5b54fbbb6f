"""Streaming readers of 1C CommerceML 2 exchange files (goods.xml, offers.xml, prices.xml, rests.xml).

Namespaces (xmlns="urn:1C.ru:commerceml_2") are stripped, a UTF-8 BOM is accepted, each record is
handed over as soon as its closing tag is read and is then cleared, so memory stays flat.
Every problem is a CommerceMLError whose message names the file and the element.
"""
import os
import xml.etree.ElementTree as ET
from decimal import Decimal, InvalidOperation

ROOT = 'КоммерческаяИнформация'
ONLY_CHANGES = 'СодержитТолькоИзменения'


class CommerceMLError(Exception):
    pass


def local_name(tag):
    return tag.rsplit('}', 1)[-1] if isinstance(tag, str) else tag


class Export:
    """One exchange file. `only_changes` is known once the file has been read past its header."""

    def __init__(self, path):
        self.path = path
        self.name = os.path.basename(path)
        self.only_changes = None

    def error(self, message):
        return CommerceMLError('%s: %s' % (self.path, message))

    def records(self, wanted):
        """Yield each element whose local name is in `wanted`, complete, then drop it."""
        try:
            handle = open(self.path, 'rb')
        except OSError as exc:
            raise self.error('cannot open: %s' % (exc.strerror or exc)) from None
        with handle:
            if os.fstat(handle.fileno()).st_size == 0:
                raise self.error('file is empty')
            stack = []
            try:
                for event, elem in ET.iterparse(handle, events=('start', 'end')):
                    if event == 'start':
                        elem.tag = local_name(elem.tag)
                        if not stack and elem.tag != ROOT:
                            raise self.error('root element is <%s>, expected <%s>' % (elem.tag, ROOT))
                        if elem.get(ONLY_CHANGES) is not None:
                            self.only_changes = elem.get(ONLY_CHANGES).strip().lower() == 'true'
                        stack.append(elem)
                        continue
                    stack.pop()
                    if elem.tag in wanted:
                        yield elem
                        elem.clear()
                        if stack:
                            stack[-1].remove(elem)
            except ET.ParseError as exc:
                raise self.error('malformed XML: %s' % exc) from None


def text(export, elem, child, what, required=True):
    value = elem.findtext(child)
    value = value.strip() if value else ''
    if required and not value:
        raise export.error('<%s> without <%s>' % (what, child))
    return value


def number(export, elem, child, where):
    raw = text(export, elem, child, where)
    try:
        return Decimal(raw.replace('\u00a0', '').replace(' ', '').replace(',', '.'))
    except InvalidOperation:
        raise export.error('%s/<%s> is not a number: %r' % (where, child, raw)) from None


def _groups(export, container, parent_id):
    for group in container.findall('Группы/Группа'):
        onec_id = text(export, group, 'Ид', 'Группа')
        yield {'onec_id': onec_id, 'name': text(export, group, 'Наименование', 'Группа Ид=%s' % onec_id),
               'parent': parent_id}
        yield from _groups(export, group, onec_id)


def read_goods(export):
    """goods.xml: yields ('category', dict) for Классификатор/Группы, then ('product', dict) per Товар."""
    for elem in export.records({'Классификатор', 'Товар'}):
        if elem.tag == 'Классификатор':
            for group in _groups(export, elem, None):
                yield 'category', group
            continue
        onec_id = text(export, elem, 'Ид', 'Товар')
        where = 'Товар Ид=%s' % onec_id
        maker = elem.find('Изготовитель')
        brand = None
        if maker is not None:
            brand_name = text(export, maker, 'Наименование', where + '/Изготовитель')
            brand = (text(export, maker, 'Ид', '', required=False) or brand_name, brand_name)
        yield 'product', {
            'onec_id': onec_id.split('#', 1)[0],
            'name': text(export, elem, 'Наименование', where),
            'article': text(export, elem, 'Артикул', where, required=False),
            'description': text(export, elem, 'Описание', where, required=False),
            'group': text(export, elem, 'Группы/Ид', where, required=False) or None,
            'brand': brand,
        }


def read_offers(export):
    """offers.xml: one dict per Предложение with its colour and size."""
    for elem in export.records({'Предложение'}):
        onec_id = text(export, elem, 'Ид', 'Предложение')
        where = 'Предложение Ид=%s' % onec_id
        features = {}
        for feature in elem.findall('ХарактеристикиТовара/ХарактеристикаТовара'):
            key = text(export, feature, 'Наименование', where + '/ХарактеристикаТовара').lower()
            features[key] = text(export, feature, 'Значение', where + '/ХарактеристикаТовара',
                                 required=False)
        yield {
            'onec_id': onec_id,
            'product_onec_id': onec_id.split('#', 1)[0],
            'sku': text(export, elem, 'Артикул', where, required=False),
            'color': features.get('цвет', ''),
            'size': features.get('размер', ''),
        }


def read_prices(export):
    """prices.xml: returns ({price type id: name}, {offer id: {price type id: Decimal}})."""
    types, prices = {}, {}
    for elem in export.records({'ТипЦены', 'Предложение'}):
        if elem.tag == 'ТипЦены':
            type_id = text(export, elem, 'Ид', 'ТипЦены')
            types[type_id] = text(export, elem, 'Наименование', 'ТипЦены Ид=%s' % type_id)
            continue
        onec_id = text(export, elem, 'Ид', 'Предложение')
        where = 'Предложение Ид=%s' % onec_id
        offer = prices.setdefault(onec_id, {})
        for price in elem.findall('Цены/Цена'):
            type_id = text(export, price, 'ИдТипаЦены', where + '/Цена')
            offer[type_id] = number(export, price, 'ЦенаЗаЕдиницу', where + '/Цена')
    return types, prices


def read_rests(export):
    """rests.xml: {offer id: quantity}, summed over Остатки/Остаток (and their Склад)."""
    rests = {}
    for elem in export.records({'Предложение'}):
        onec_id = text(export, elem, 'Ид', 'Предложение')
        where = 'Предложение Ид=%s/Остаток' % onec_id
        total = Decimal(0)
        for rest in elem.findall('Остатки/Остаток'):
            holders = [rest] + rest.findall('Склад')
            for holder in holders:
                if holder.find('Количество') is not None:
                    total += number(export, holder, 'Количество', where)
        rests[onec_id] = int(total)
    return rests
