from django.db.models import Count, QuerySet
from django.http import Http404

from controlplane.tenancy.models import Team
from deployments.models import ModelArtifact, UploadSession


def artifact_list(*, team: Team) -> QuerySet[ModelArtifact]:
    return (
        ModelArtifact.objects.filter(team=team)
        .select_related("team", "created_by")
        .annotate(file_count=Count("files"))
        .order_by("name", "-version")
    )


def artifact_get(*, team: Team, artifact_id: int) -> ModelArtifact:
    """The version, or 404 when it belongs to another team (or does not exist)."""
    artifact = artifact_list(team=team).filter(pk=artifact_id).first()
    if artifact is None:
        raise Http404("No such model version.")
    return artifact


def upload_get(*, artifact: ModelArtifact, upload_id) -> UploadSession:
    upload = (
        UploadSession.objects.select_related("artifact__team").filter(artifact=artifact, pk=upload_id).first()
    )
    if upload is None:
        raise Http404("No such upload.")
    return upload
