"""What the shop sells, release 1.0: a Product (the price is on the product).

cart_line(data) turns a cart request into the values a cart line copies; skus(onec_ids) gives the SKU
(the article) of each 1C id for the order lines. Release 2.0 sells variants instead.
"""
from rest_framework.exceptions import NotFound, ValidationError

from .models import Product


def cart_line(data):
    """{"product": slug}; a "variant" (a 2.0 field) is ignored."""
    slug = data.get('product')
    if not slug or not isinstance(slug, str):
        raise ValidationError({'product': ['give a product slug']})
    product = Product.objects.filter(slug=slug, is_active=True).first()
    if product is None:
        raise NotFound('No product %s on sale.' % slug)
    return {'product_onec_id': product.onec_id, 'product_name': product.name, 'price': product.retail_price}


def skus(onec_ids):
    return dict(Product.objects.filter(onec_id__in=set(onec_ids)).values_list('onec_id', 'article'))
