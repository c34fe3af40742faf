from rest_framework import serializers


class SecretOutput(serializers.Serializer):
    name = serializers.CharField()
    updated_at = serializers.DateTimeField()
    updated_by = serializers.CharField(source="updated_by.username", default=None, allow_null=True)
