import django_filters

from billing.choices import ItemKind, Provider
from billing.models import CatalogItem, GpuType


class CatalogItemFilter(django_filters.FilterSet):
    provider = django_filters.ChoiceFilter(choices=Provider.choices)
    region = django_filters.CharFilter()
    kind = django_filters.ChoiceFilter(choices=ItemKind.choices)
    gpu_type = django_filters.CharFilter(field_name="gpu_type__slug", label="GPU type (slug)")
    sku = django_filters.CharFilter(lookup_expr="icontains", label="SKU contains")

    class Meta:
        model = CatalogItem
        fields = ["provider", "region", "kind", "gpu_type", "sku"]


class GpuTypeFilter(django_filters.FilterSet):
    min_memory_gb = django_filters.NumberFilter(
        field_name="memory_gb", lookup_expr="gte", label="At least GB"
    )
    supports_fp8 = django_filters.BooleanFilter()

    class Meta:
        model = GpuType
        fields = ["min_memory_gb", "supports_fp8"]
