"""What the shop sells, release 2.0: a ProductVariant (its price, SKU, colour and size).

cart_line(data) turns a cart request into the values a cart line copies; skus(onec_ids) gives the SKU
of each 1C id for the order lines. Release 1.0 has its own version of this module (the Product).
"""
from rest_framework.exceptions import NotFound, ValidationError

from .models import Product, ProductVariant


def cart_line(data):
    """{"variant": id} or {"product": slug} (then its first variant); both: the variant must be the product's."""
    variant_id, slug = data.get('variant'), data.get('product')
    if slug is not None and not isinstance(slug, str):
        raise ValidationError({'product': ['a product slug']})
    if variant_id not in (None, ''):
        try:
            variant_id = int(variant_id)
        except (TypeError, ValueError):
            raise ValidationError({'variant': ['a variant id (an integer)']})
        variant = (ProductVariant.objects.select_related('product')
                   .filter(pk=variant_id, product__is_active=True).first())
        if variant is None:
            raise NotFound('No variant %s on sale.' % variant_id)
        if slug and variant.product.slug != slug:
            raise ValidationError({'variant': ['not a variant of product %s' % slug]})
    elif slug:
        product = Product.objects.filter(slug=slug, is_active=True).first()
        if product is None:
            raise NotFound('No product %s on sale.' % slug)
        variant = product.variants.order_by('id').first()
        if variant is None:
            raise ValidationError({'product': ['%s has no variant to sell' % slug]})
        variant.product = product
    else:
        raise ValidationError({'variant': ['give a variant id or a product slug']})
    product = variant.product
    details = ', '.join(part for part in (variant.color_name, variant.size) if part)
    return {
        'product_onec_id': variant.onec_id,
        'product_name': ('%s (%s)' % (product.name, details) if details else product.name)[:300],
        'price': variant.retail_price,
    }


def skus(onec_ids):
    return dict(ProductVariant.objects.filter(onec_id__in=set(onec_ids)).values_list('onec_id', 'sku'))
