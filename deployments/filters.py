import django_filters

from deployments.choices import ArtifactFormat, ArtifactStatus
from deployments.models import ModelArtifact


class ModelArtifactFilter(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", label="Name contains")
    format = django_filters.ChoiceFilter(choices=ArtifactFormat.choices)
    status = django_filters.ChoiceFilter(choices=ArtifactStatus.choices)

    class Meta:
        model = ModelArtifact
        fields = ["name", "format", "status"]
