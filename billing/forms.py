from django import forms

from billing.choices import ItemKind, Precision, PriceTerm, PriceUnit, Provider, Sensitivity, Traffic
from billing.models import GpuType, OnPremProfile

_DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class GpuTypeForm(forms.ModelForm):
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
        widgets = {"source": forms.Textarea(attrs={"rows": 2}), "notes": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["relative_speed"].required = False
        if editing:
            del self.fields["slug"]

    def validate_unique(self):
        """The service checks the slug and reports it on the field."""


class CatalogItemForm(forms.Form):
    provider = forms.ChoiceField(choices=[c for c in Provider.choices if c[0] != Provider.ONPREM])
    region = forms.CharField(max_length=40, help_text="e.g. us-east-1, us-central1, eastus")
    sku = forms.CharField(max_length=80, label="SKU", help_text="The provider's name, e.g. g6e.xlarge")
    kind = forms.ChoiceField(choices=[c for c in ItemKind.choices if c[0] != ItemKind.ONPREM])
    gpu_type = forms.ModelChoiceField(
        GpuType.objects.all(), to_field_name="slug", required=False, label="GPU type"
    )
    gpu_count = forms.IntegerField(min_value=0, max_value=64, initial=0, required=False, label="GPUs")
    description = forms.CharField(max_length=200, required=False)

    def clean_gpu_count(self):
        return self.cleaned_data.get("gpu_count") or 0


class PriceAddForm(forms.Form):
    usd = forms.DecimalField(max_digits=20, decimal_places=10, label="USD", min_value=0)
    term = forms.ChoiceField(choices=PriceTerm.choices, initial=PriceTerm.ON_DEMAND)
    unit = forms.ChoiceField(choices=PriceUnit.choices)
    effective_from = forms.DateTimeField(
        widget=_DATETIME, label="Takes effect", help_text="UTC; after the current price."
    )
    source_key = forms.CharField(max_length=40, label="Source key", help_text="e.g. P1, invoice-2026-11")
    source = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), help_text="URL or citation.")
    unverified = forms.BooleanField(required=False, help_text="No stored source confirms the number.")
    note = forms.CharField(required=False, max_length=500)

    def __init__(self, *args, units: tuple[str, ...] = (), terms: tuple[str, ...] = (), **kwargs):
        super().__init__(*args, **kwargs)
        if units:
            self.fields["unit"].choices = [c for c in PriceUnit.choices if c[0] in units]
        if terms:
            self.fields["term"].choices = [c for c in PriceTerm.choices if c[0] in terms]


class OnPremProfileForm(forms.ModelForm):
    site = forms.CharField(max_length=40, help_text="Data centre or site name.")
    effective_from = forms.DateTimeField(
        widget=_DATETIME, label="Takes effect", help_text="UTC; when the derived price per GPU-hour applies."
    )

    class Meta:
        model = OnPremProfile
        fields = [
            "slug",
            "name",
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
        ]
        labels = {
            "gpus_per_server": "GPUs per server",
            "amortisation_years": "Years of amortisation",
            "hardware_cost_usd": "Hardware cost (USD per server)",
            "power_kw": "Power (kW per server)",
            "usd_per_kwh": "USD per kWh",
            "pue": "PUE",
            "operations_usd_per_year": "Operations (USD per server-year)",
        }
        widgets = {"source": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["gpu_type"].to_field_name = "slug"
        if editing:
            for name in ("slug", "site", "gpu_type"):
                del self.fields[name]
            self.fields["effective_from"].required = False
            self.fields["effective_from"].help_text = "UTC; required when a cost figure changes."

    def validate_unique(self):
        """The service checks the slug and reports it on the field."""

    def _post_clean(self):
        """Services hold the invariants; skip the model's own validation of a half-built instance."""


class TcoForm(forms.Form):
    requests_per_day = forms.FloatField(min_value=0.001, initial=20000)
    params_billions = forms.FloatField(
        min_value=0.000001,
        required=False,
        initial=8,
        label="Model size (B params)",
        help_text="Or leave empty and give a GPU requirement.",
    )
    precision = forms.ChoiceField(choices=Precision.choices, initial=Precision.BF16)
    gpu_type = forms.ModelChoiceField(
        GpuType.objects.all(),
        to_field_name="slug",
        required=False,
        label="GPU requirement",
        empty_label="any that fits",
    )
    gpu_count = forms.TypedChoiceField(
        choices=[("", "as needed"), (1, 1), (2, 2), (4, 4), (8, 8)],
        coerce=int,
        required=False,
        empty_value=None,
        label="GPUs per replica",
    )
    tokens_per_request = forms.FloatField(
        min_value=0.001, required=False, initial=400, help_text="Generated tokens; or give latency instead."
    )
    latency_s = forms.FloatField(min_value=0.0001, required=False, label="Latency per request (s)")
    traffic = forms.ChoiceField(choices=Traffic.choices, initial=Traffic.STEADY)
    busy_hours_per_day = forms.FloatField(
        min_value=0.1,
        max_value=23.9,
        initial=6,
        required=False,
        label="Busy hours a day",
        help_text="Bursty traffic only.",
    )
    sensitivity = forms.ChoiceField(choices=Sensitivity.choices, initial=Sensitivity.INTERNAL, label="Data")
    horizon_years = forms.TypedChoiceField(
        choices=[(y, f"{y} year{'s' if y > 1 else ''}") for y in range(1, 6)],
        coerce=int,
        initial=3,
        label="Horizon",
    )
    concurrency_per_replica = forms.IntegerField(
        min_value=1, max_value=1024, initial=8, label="Concurrent requests per replica"
    )
    spot_share = forms.FloatField(min_value=0, max_value=1, initial=0.5, label="Spot share of node-hours")
    onprem_profile = forms.ModelChoiceField(
        OnPremProfile.objects.all(),
        to_field_name="slug",
        required=False,
        label="Own hardware",
        empty_label="cheapest that fits",
    )

    def workload_kwargs(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("onprem_profile")
        data["gpu_type"] = data["gpu_type"].slug if data["gpu_type"] else None
        if data.get("busy_hours_per_day") is None:
            data["busy_hours_per_day"] = 6.0
        return data
