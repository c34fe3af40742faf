from django.db.models import Count, QuerySet
from django.http import Http404

from controlplane.exceptions import ApplicationError
from controlplane.tenancy.models import Team
from deployments.inspection.names import show, upload_path_problem
from deployments.models import ArtifactFile, ModelArtifact, UploadSession


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


def artifact_file_get(*, artifact: ModelArtifact, path: str) -> ArtifactFile:
    """One file of the version, or 404. A name no upload could have (a NUL, a control character)
    is a 400 naming `path`, never a query: PostgreSQL refuses NUL in text."""
    if problem := upload_path_problem(path):
        raise ApplicationError(f"Invalid file path {show(path)}: {problem}.", extra={"field": "path"})
    file = artifact.files.filter(path=path).first()
    if file is None:
        raise Http404("No such file in this model version.")
    return file
