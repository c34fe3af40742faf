from decimal import Decimal

import factory

from billing.choices import ItemKind, Provider
from billing.models import CatalogItem, GpuType


class GpuTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GpuType
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"gpu-{n}")
    name = factory.LazyAttribute(lambda g: f"Test {g.slug}")
    memory_gb = Decimal("48")
    bandwidth_gbps = Decimal("800")
    bf16_tflops = Decimal("300")
    relative_speed = Decimal("0.239")
    source_key = "TEST"
    source = "test fixture"


class CatalogItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CatalogItem

    provider = Provider.AWS
    region = "r1"
    sku = factory.Sequence(lambda n: f"c{n}.xlarge")
    kind = ItemKind.INSTANCE
    gpu_type = factory.SubFactory(GpuTypeFactory)
    gpu_count = 1
