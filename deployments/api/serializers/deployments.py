from rest_framework import serializers

from deployments.masking import mask_env, mask_env_in
from deployments.models import Deployment, Event, Revision


class RevisionOutput(serializers.ModelSerializer):
    model = serializers.SerializerMethodField()

    class Meta:
        model = Revision
        fields = [
            "number",
            "model",
            "runtime",
            "gpu_type",
            "gpu_count",
            "min_replicas",
            "max_replicas",
            "scaling_metric",
            "scaling_target",
            "scale_up_window_s",
            "scale_down_window_s",
            "idle_timeout_s",
            "env",
            "secrets",
            "memory_override",
            "reason",
            "created_at",
        ]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["env"] = mask_env(data.get("env"))
        return data

    def get_model(self, obj) -> dict:
        return {
            "id": obj.artifact_id,
            "name": obj.artifact.name,
            "version": obj.artifact.version,
            "format": obj.artifact.format,
        }


class EventOutput(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = ["created_at", "kind", "message", "actor", "data"]

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["data"] = mask_env_in(data.get("data"))
        return data


class DeploymentOutput(serializers.ModelSerializer):
    team = serializers.CharField(source="team.slug")
    target = serializers.CharField(source="target.name")
    revision = RevisionOutput(source="current_revision")

    class Meta:
        model = Deployment
        fields = [
            "id",
            "team",
            "name",
            "target",
            "desired_state",
            "status",
            "status_message",
            "generation",
            "observed_generation",
            "replicas",
            "pinned_replicas",
            "ready_replicas",
            "endpoint_url",
            "revision",
            "first_ready_at",
            "last_request_at",
            "created_at",
            "updated_at",
        ]
