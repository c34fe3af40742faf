from decimal import Decimal

from django import template

register = template.Library()


@register.filter
def price(value) -> str:
    """A catalog price without trailing zeros but with at least cents: 18 → 18.00, 0.0000166667 as is."""
    if value is None:
        return "—"
    text = f"{Decimal(value).normalize():f}"
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


@register.filter
def money(value) -> str:
    if value is None:
        return "—"
    return f"${value:,.2f}"


@register.filter
def per_gpu(value, gpus) -> str:
    """USD per instance-hour ÷ GPUs, to 4 decimals."""
    return f"{Decimal(value) / Decimal(gpus):.4f}"
