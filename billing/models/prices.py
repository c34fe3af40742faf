from django.conf import settings
from django.db import models

from billing.choices import PriceTerm, PriceUnit

from .catalog import CatalogItem


class PriceQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("prices are append-only: add a row with a later effective date")


class Price(models.Model):
    """One price of a catalog item, in force from `effective_from` until the next row of the same
    (item, term, unit). Rows are never changed, so costs computed for the past stay reproducible.

    `source_key` and `source` say where the number comes from; `unverified` marks figures that no
    stored source confirms (reference rows marked [K]). On-premises prices keep their working in
    `derivation`."""

    item = models.ForeignKey(CatalogItem, on_delete=models.PROTECT, related_name="prices")
    term = models.CharField(max_length=16, choices=PriceTerm.choices, default=PriceTerm.ON_DEMAND)
    unit = models.CharField(max_length=16, choices=PriceUnit.choices)
    usd = models.DecimalField(max_digits=20, decimal_places=10)
    effective_from = models.DateTimeField()
    source_key = models.CharField(max_length=40)
    source = models.TextField()
    unverified = models.BooleanField(default=False)
    note = models.TextField(blank=True)
    derivation = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = PriceQuerySet.as_manager()

    class Meta:
        ordering = ["item", "term", "unit", "-effective_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "term", "unit", "effective_from"], name="price_unique_start"
            ),
            models.CheckConstraint(condition=models.Q(usd__gte=0), name="price_not_negative"),
        ]
        indexes = [models.Index(fields=["item", "term", "unit", "effective_from"], name="price_lookup")]

    def __str__(self) -> str:
        return f"{self.item} {self.term} {self.usd} {self.unit} from {self.effective_from:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise TypeError("prices are append-only: add a row with a later effective date")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("prices are append-only: add a row with a later effective date")
