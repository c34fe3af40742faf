from django.db.models import QuerySet
from django.http import Http404

from controlplane.tenancy.models import PlatformGrant


def platform_grant_list() -> QuerySet[PlatformGrant]:
    return PlatformGrant.objects.select_related("user", "granted_by").order_by("user__username", "role")


def platform_grant_get(*, grant_id: int) -> PlatformGrant:
    grant = platform_grant_list().filter(pk=grant_id).first()
    if grant is None:
        raise Http404("No such grant.")
    return grant
