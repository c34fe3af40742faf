from django import template

register = template.Library()


@register.filter
def gigabytes(value) -> str:
    """GB (10^9 bytes) as people read it: MB below one GB, so tiny test models are not '0.0 GB'."""
    if value is None:
        return "—"
    value = float(value)
    if value == 0:
        return "0"
    if value < 1:
        return f"{value * 1000:.3g} MB"
    return f"{value:,.1f} GB"
