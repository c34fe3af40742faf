from django.db.models import QuerySet

from deployments.models import TeamSecret


def secret_list(*, team) -> QuerySet[TeamSecret]:
    """Names and last change only: the encrypted value is deferred so no listing ever loads it."""
    return TeamSecret.objects.filter(team=team).defer("encrypted_value").select_related("updated_by")
