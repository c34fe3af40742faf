from django import template

from deployments.masking import mask_env

register = template.Library()


@register.filter
def masked_env(env) -> dict:
    """A revision's env as every reader sees it: values under secret-looking names are masked."""
    return mask_env(env) or {}
