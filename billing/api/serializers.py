from rest_framework import serializers

from billing.models import CatalogItem, GpuType, OnPremProfile, Price


class GpuTypeOutput(serializers.ModelSerializer):
    class Meta:
        model = GpuType
        fields = [
            "slug",
            "name",
            "memory_gb",
            "bandwidth_gbps",
            "bf16_tflops",
            "fp8_tflops",
            "supports_bf16",
            "supports_fp8",
            "relative_speed",
            "source_key",
            "source",
            "unverified",
            "notes",
        ]


class PriceOutput(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Price
        fields = [
            "id",
            "item",
            "term",
            "unit",
            "usd",
            "effective_from",
            "source_key",
            "source",
            "unverified",
            "note",
            "derivation",
            "created_at",
            "created_by",
        ]


class CatalogItemOutput(serializers.ModelSerializer):
    # null for storage and serverless items, which run on no GPU type
    gpu_type = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    current_prices = serializers.SerializerMethodField(
        help_text="Prices in force now, one per term and unit."
    )

    class Meta:
        model = CatalogItem
        fields = [
            "id",
            "provider",
            "region",
            "sku",
            "kind",
            "gpu_type",
            "gpu_count",
            "description",
            "current_prices",
        ]

    def get_current_prices(self, item) -> list[dict]:
        prices = self.context.get("prices", {}).get(item.pk, {})
        return PriceOutput(sorted(prices.values(), key=lambda p: (p.term, p.unit)), many=True).data


class CatalogItemDetailOutput(CatalogItemOutput):
    prices = serializers.SerializerMethodField(
        help_text="Every price, newest first within each term and unit."
    )

    class Meta(CatalogItemOutput.Meta):
        fields = CatalogItemOutput.Meta.fields + ["prices"]

    def get_prices(self, item) -> list[dict]:
        return PriceOutput(self.context.get("history", []), many=True).data


class WorkingTermOutput(serializers.Serializer):
    label = serializers.CharField()
    formula = serializers.CharField()
    usd_per_year = serializers.FloatField()
    usd_per_gpu_hour = serializers.FloatField()


class WorkingOutput(serializers.Serializer):
    terms = WorkingTermOutput(many=True)
    used_gpu_hours_per_year = serializers.FloatField()
    usd_per_year = serializers.FloatField()
    usd_per_gpu_hour = serializers.FloatField()


class OnPremProfileOutput(serializers.ModelSerializer):
    gpu_type = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    site = serializers.CharField(source="item.region", read_only=True)
    item = serializers.PrimaryKeyRelatedField(
        read_only=True, help_text="Catalog item that carries the prices."
    )
    working = serializers.SerializerMethodField()

    class Meta:
        model = OnPremProfile
        fields = [
            "slug",
            "name",
            "site",
            "item",
            "gpu_type",
            "gpus_per_server",
            "hardware_cost_usd",
            "amortisation_years",
            "power_kw",
            "usd_per_kwh",
            "pue",
            "operations_usd_per_year",
            "expected_utilisation",
            "source",
            "unverified",
            "updated_at",
            "working",
        ]

    def get_working(self, profile) -> WorkingOutput:
        from billing.selectors import onprem_working

        return onprem_working(profile=profile).as_dict()


class GpuPriceOutput(serializers.Serializer):
    gpu_type = serializers.CharField()
    name = serializers.CharField()
    memory_gb = serializers.DecimalField(max_digits=7, decimal_places=1)
    usd_per_gpu_hour = serializers.DecimalField(max_digits=20, decimal_places=6)
    provider = serializers.CharField()
    region = serializers.CharField()
    instance = serializers.CharField()
    gpus_per_instance = serializers.IntegerField()
    source_key = serializers.CharField()
    source = serializers.CharField()
    unverified = serializers.BooleanField()
    effective_from = serializers.DateTimeField()


class TcoModeOutput(serializers.Serializer):
    mode = serializers.CharField()
    label = serializers.CharField()
    feasible = serializers.BooleanField()
    reason = serializers.CharField(help_text="Why the mode cannot serve the workload, when infeasible.")
    offer = serializers.CharField()
    unverified_prices = serializers.BooleanField()
    monthly_usd = serializers.FloatField()
    total_usd = serializers.FloatField()
    break_even_month = serializers.IntegerField(
        allow_null=True, help_text="First month own hardware costs no more."
    )
    cumulative_usd = serializers.ListField(child=serializers.FloatField())
    working = serializers.ListField(child=serializers.CharField())


class TcoOutput(serializers.Serializer):
    workload = serializers.DictField()
    months = serializers.IntegerField()
    recommended = serializers.CharField(allow_null=True)
    reasons = serializers.ListField(child=serializers.CharField())
    assumptions = serializers.ListField(child=serializers.CharField())
    sizing = serializers.DictField()
    modes = TcoModeOutput(many=True)
