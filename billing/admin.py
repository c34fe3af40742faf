from django.contrib import admin

from billing.models import CatalogItem, GpuType, OnPremProfile, Price


@admin.register(GpuType)
class GpuTypeAdmin(admin.ModelAdmin):
    """Read-only here: changes go through the console or API so they are audited."""

    list_display = [
        "slug",
        "name",
        "memory_gb",
        "bandwidth_gbps",
        "relative_speed",
        "source_key",
        "unverified",
    ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CatalogItem)
class CatalogItemAdmin(GpuTypeAdmin):
    list_display = ["provider", "region", "sku", "kind", "gpu_type", "gpu_count"]
    list_filter = ["provider", "kind"]


@admin.register(Price)
class PriceAdmin(GpuTypeAdmin):
    list_display = ["item", "term", "unit", "usd", "effective_from", "source_key", "unverified"]
    list_filter = ["term", "unit", "unverified"]


@admin.register(OnPremProfile)
class OnPremProfileAdmin(GpuTypeAdmin):
    list_display = ["slug", "name", "gpu_type", "gpus_per_server", "hardware_cost_usd", "amortisation_years"]
