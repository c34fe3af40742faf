"""Small pieces every app's API uses: pagination and FilterSets on plain APIViews."""

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView


def paginate(view: APIView, queryset: QuerySet, serializer_class, **context) -> Response:
    """One page in the envelope of the view's `pagination_class`: the attribute drf-spectacular reads
    to document `count`/`next`/`previous`/`results`, so schema and response cannot drift apart."""
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True, context=context).data)


def filter_parameters(filterset_class) -> list[OpenApiParameter]:
    """Document a FilterSet's query parameters on a plain APIView."""
    return [
        OpenApiParameter(name, str, description=str(f.label or ""), required=False)
        for name, f in filterset_class.base_filters.items()
    ]


def filtered(filterset_class, request, queryset: QuerySet) -> QuerySet:
    filterset = filterset_class(request.query_params, queryset=queryset, request=request)
    if not filterset.is_valid():
        raise serializers.ValidationError(filterset.errors)
    return filterset.qs
