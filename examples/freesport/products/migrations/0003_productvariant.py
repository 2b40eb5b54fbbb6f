"""Release 2.0: ProductVariant takes over prices and stock; products loses retail_price and
stock_quantity. No data is carried over: the catalog is flushed and imported again from 1C."""
from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):

    dependencies = [
        ('products', '0002_seed_base_colors'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='product',
            name='retail_price',
        ),
        migrations.RemoveField(
            model_name='product',
            name='stock_quantity',
        ),
        migrations.CreateModel(
            name='ProductVariant',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('onec_id', models.CharField(help_text='1C offer id, product#characteristic', max_length=200, unique=True)),
                ('sku', models.CharField(blank=True, default='', max_length=100)),
                ('color_name', models.CharField(blank=True, default='', help_text='as written in 1C', max_length=100)),
                ('size', models.CharField(blank=True, default='', max_length=50)),
                ('retail_price', models.DecimalField(decimal_places=2, default=0, max_digits=12)),
                ('opt_price', models.DecimalField(decimal_places=2, default=0, max_digits=12)),
                ('stock_quantity', models.IntegerField(default=0)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('color', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='variants', to='products.colormapping')),
                ('product', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='variants', to='products.product')),
            ],
            options={
                'db_table': 'product_variants',
                'ordering': ['product_id', 'id'],
            },
        ),
    ]
