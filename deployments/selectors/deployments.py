from django.db.models import QuerySet
from django.http import Http404

from controlplane.tenancy.models import Team
from deployments.choices import DeploymentStatus
from deployments.models import Deployment, Target


def deployment_list(*, team: Team) -> QuerySet[Deployment]:
    return (
        Deployment.objects.filter(team=team)
        .exclude(status=DeploymentStatus.DELETED)
        .select_related("team", "target", "current_revision__artifact")
        .order_by("name")
    )


def deployment_get(*, team: Team, deployment_id: int) -> Deployment:
    deployment = (
        Deployment.objects.filter(team=team, pk=deployment_id)
        .select_related("team", "target", "current_revision__artifact")
        .first()
    )
    if deployment is None:
        raise Http404("No such deployment.")
    return deployment


def target_list_for(*, team: Team) -> QuerySet[Target]:
    from django.db.models import Q

    return Target.objects.filter(Q(all_teams=True) | Q(teams=team)).distinct().order_by("name")
