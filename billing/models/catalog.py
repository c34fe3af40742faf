from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from billing.choices import ItemKind, Provider

SLUG_VALIDATOR = RegexValidator(
    r"^[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?$",
    "Use 1 to 40 lowercase letters, digits or hyphens, starting and ending with a letter or digit.",
)


class GpuType(models.Model):
    """One GPU model with the figures that size and price inference on it."""

    slug = models.CharField(max_length=40, unique=True, validators=[SLUG_VALIDATOR])
    name = models.CharField(max_length=100)
    memory_gb = models.DecimalField(max_digits=7, decimal_places=1, validators=[MinValueValidator(1)])
    bandwidth_gbps = models.DecimalField(
        max_digits=8,
        decimal_places=1,
        validators=[MinValueValidator(1)],
        help_text="Peak memory bandwidth, GB/s.",
    )
    bf16_tflops = models.DecimalField(
        max_digits=8,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="Dense FP16/BF16 tensor TFLOPS (FP16 where the GPU has no BF16).",
    )
    fp8_tflops = models.DecimalField(
        max_digits=8,
        decimal_places=1,
        null=True,
        blank=True,
        help_text="Dense FP8 tensor TFLOPS; empty without FP8.",
    )
    supports_bf16 = models.BooleanField(default=True)
    supports_fp8 = models.BooleanField(default=False)
    relative_speed = models.DecimalField(
        max_digits=5,
        decimal_places=3,
        validators=[MinValueValidator(0)],
        help_text="Decode speed relative to H100 SXM (= bandwidth ÷ 3,350 GB/s: decode is bandwidth-bound).",
    )
    source_key = models.CharField(max_length=40, help_text="Key of the reference source, e.g. S1.")
    source = models.TextField(help_text="URL or citation of the source.")
    unverified = models.BooleanField(default=False, help_text="Figures not found in a stored source; verify.")
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["memory_gb", "slug"]

    def __str__(self) -> str:
        return self.slug


class CatalogItem(models.Model):
    """Something with a price: a GPU instance type of a provider in a region, a storage class, a
    serverless offering or an on-premises hardware profile. Its prices are rows of `Price`."""

    provider = models.CharField(max_length=16, choices=Provider.choices)
    region = models.CharField(
        max_length=40, help_text="Provider region, or the site for on-premises hardware."
    )
    sku = models.CharField(max_length=80, help_text="The provider's name for it, e.g. p5.48xlarge.")
    kind = models.CharField(max_length=16, choices=ItemKind.choices)
    gpu_type = models.ForeignKey(
        GpuType, on_delete=models.PROTECT, null=True, blank=True, related_name="items"
    )
    gpu_count = models.PositiveSmallIntegerField(default=0)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["provider", "region", "kind", "gpu_type__memory_gb", "gpu_count", "sku"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "region", "sku"], name="catalog_item_unique_sku"),
            models.CheckConstraint(
                condition=(
                    models.Q(
                        kind__in=[ItemKind.INSTANCE, ItemKind.ONPREM],
                        gpu_type__isnull=False,
                        gpu_count__gte=1,
                    )
                    | models.Q(
                        kind__in=[ItemKind.STORAGE, ItemKind.SERVERLESS], gpu_type__isnull=True, gpu_count=0
                    )
                ),
                name="catalog_item_gpus_match_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.region}/{self.sku}"

    @property
    def has_gpus(self) -> bool:
        return self.gpu_type_id is not None


class OnPremProfile(models.Model):
    """Own hardware: one server model at a site, with what it costs to own and run. Its cost per
    GPU-hour is derived (billing.tco.onprem_gpu_hour) and recorded as an effective-dated Price of
    `item`, so a Target can point at the profile and the ledger prices it like any cloud instance."""

    slug = models.CharField(max_length=40, unique=True, validators=[SLUG_VALIDATOR])
    name = models.CharField(max_length=100)
    item = models.OneToOneField(CatalogItem, on_delete=models.PROTECT, related_name="onprem_profile")
    gpu_type = models.ForeignKey(GpuType, on_delete=models.PROTECT, related_name="onprem_profiles")
    gpus_per_server = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    hardware_cost_usd = models.DecimalField(
        max_digits=12, decimal_places=2, help_text="Per server, installed."
    )
    amortisation_years = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    power_kw = models.DecimalField(max_digits=7, decimal_places=3, help_text="Per server, at load.")
    usd_per_kwh = models.DecimalField(max_digits=7, decimal_places=4)
    pue = models.DecimalField(max_digits=4, decimal_places=2, help_text="Power usage effectiveness, ≥ 1.")
    operations_usd_per_year = models.DecimalField(
        max_digits=12,
        decimal_places=2,
        help_text="Per server: support contract, staff share, space, network.",
    )
    expected_utilisation = models.DecimalField(
        max_digits=4,
        decimal_places=3,
        help_text="Share of GPU-hours used, 0 < u ≤ 1; idle hours are paid by used ones.",
    )
    source = models.TextField(help_text="Where the figures come from (a quote, an invoice, an estimate).")
    unverified = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug
