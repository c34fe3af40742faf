from rest_framework import serializers

from deployments.models import Target


class TargetOutput(serializers.ModelSerializer):
    class Meta:
        model = Target
        fields = ["id", "name", "kind", "description", "gpu_inventory", "all_teams", "created_at"]
