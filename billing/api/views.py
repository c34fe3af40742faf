"""REST API of the price catalog and the TCO comparison. Everyone signed in reads; platform admins
(superusers) change the catalog. Views check input shape and call one service or selector."""

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.choices import ItemKind, Precision, PriceTerm, PriceUnit, Provider, Sensitivity, Traffic
from billing.filters import CatalogItemFilter, GpuTypeFilter
from billing.models import GpuType
from billing.selectors import (
    catalog_item_get,
    catalog_item_list,
    current_prices,
    gpu_price_list,
    gpu_type_get,
    gpu_type_list,
    onprem_profile_get,
    onprem_profile_list,
    price_history,
    tco_compare,
)
from billing.services import (
    catalog_item_create,
    gpu_type_create,
    gpu_type_update,
    onprem_profile_create,
    onprem_profile_update,
    price_add,
)
from billing.tco import Workload
from controlplane.api_access import IsAuthenticatedWithScope
from controlplane.pagination import DefaultPagination

from .permissions import IsPlatformAdminOrReadOnly
from .serializers import (
    CatalogItemDetailOutput,
    CatalogItemOutput,
    GpuPriceOutput,
    GpuTypeOutput,
    OnPremProfileOutput,
    PriceOutput,
    TcoOutput,
)


def _filter_parameters(filterset_class) -> list[OpenApiParameter]:
    return [
        OpenApiParameter(name, str, description=str(f.label or ""), required=False)
        for name, f in filterset_class.base_filters.items()
    ]


def _filtered(filterset_class, request, queryset: QuerySet) -> QuerySet:
    filterset = filterset_class(request.query_params, queryset=queryset, request=request)
    if not filterset.is_valid():
        raise serializers.ValidationError(filterset.errors)
    return filterset.qs


def _paginate(view: APIView, queryset, serializer_class, **context) -> Response:
    paginator = view.pagination_class()  # what the schema documents (controlplane/api_helpers.py)
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True, context=context).data)


class CatalogApi(APIView):
    permission_classes = [IsAuthenticatedWithScope, IsPlatformAdminOrReadOnly]


class GpuTypesApi(CatalogApi):
    pagination_class = DefaultPagination  # get() answers its envelope; the schema says so
    audit_resource = "gpu_type"
    audit_actions = {"POST": "gpu_type.create"}

    @extend_schema_serializer(component_name="GpuTypeCreateInput")
    class InputSerializer(serializers.Serializer):
        slug = serializers.CharField(max_length=40, help_text="e.g. h100-sxm-80gb")
        name = serializers.CharField(max_length=100)
        memory_gb = serializers.DecimalField(max_digits=7, decimal_places=1)
        bandwidth_gbps = serializers.DecimalField(max_digits=8, decimal_places=1)
        bf16_tflops = serializers.DecimalField(
            max_digits=8, decimal_places=1, required=False, allow_null=True
        )
        fp8_tflops = serializers.DecimalField(max_digits=8, decimal_places=1, required=False, allow_null=True)
        supports_bf16 = serializers.BooleanField(default=True)
        supports_fp8 = serializers.BooleanField(default=False)
        relative_speed = serializers.DecimalField(
            max_digits=5,
            decimal_places=3,
            required=False,
            allow_null=True,
            help_text="Default: bandwidth ÷ 3,350 GB/s (H100 SXM).",
        )
        source_key = serializers.CharField(max_length=40)
        source = serializers.CharField()
        unverified = serializers.BooleanField(default=False)
        notes = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(responses=GpuTypeOutput(many=True), parameters=_filter_parameters(GpuTypeFilter))
    def get(self, request):
        return _paginate(self, _filtered(GpuTypeFilter, request, gpu_type_list()), GpuTypeOutput)

    @extend_schema(request=InputSerializer, responses={201: GpuTypeOutput})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        gpu = gpu_type_create(actor=request.user, **data.validated_data)
        return Response(GpuTypeOutput(gpu).data, status=status.HTTP_201_CREATED)


class GpuTypeDetailApi(CatalogApi):
    audit_resource = "gpu_type"
    audit_actions = {"PATCH": "gpu_type.update"}

    @extend_schema_serializer(component_name="GpuTypeUpdateInput")
    class InputSerializer(GpuTypesApi.InputSerializer):
        slug = None

    @extend_schema(responses=GpuTypeOutput)
    def get(self, request, slug):
        return Response(GpuTypeOutput(gpu_type_get(slug=slug)).data)

    @extend_schema(request=InputSerializer, responses=GpuTypeOutput)
    def patch(self, request, slug):
        gpu = gpu_type_get(slug=slug)
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        gpu = gpu_type_update(actor=request.user, gpu_type=gpu, **data.validated_data)
        return Response(GpuTypeOutput(gpu).data)


class GpuPricesApi(CatalogApi):
    """The cheapest on-demand USD per GPU-hour of each GPU type, with where it comes from."""

    class FilterSerializer(serializers.Serializer):
        at = serializers.DateTimeField(required=False, help_text="Prices in force at this time; default now.")

    @extend_schema(parameters=[FilterSerializer], responses=GpuPriceOutput(many=True))
    def get(self, request):
        params = self.FilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        return Response(GpuPriceOutput(gpu_price_list(at=params.validated_data.get("at")), many=True).data)


class CatalogItemsApi(CatalogApi):
    pagination_class = DefaultPagination  # get() answers its envelope; the schema says so
    audit_resource = "catalog_item"
    audit_actions = {"POST": "catalog_item.create"}

    @extend_schema_serializer(component_name="CatalogItemCreateInput")
    class InputSerializer(serializers.Serializer):
        # Full choice sets (one enum each in the schema); the service refuses on-premises items.
        provider = serializers.ChoiceField(choices=Provider.choices)
        region = serializers.CharField(max_length=40)
        sku = serializers.CharField(max_length=80)
        kind = serializers.ChoiceField(choices=ItemKind.choices)
        gpu_type = serializers.SlugRelatedField(
            slug_field="slug", queryset=GpuType.objects.all(), required=False, allow_null=True, default=None
        )
        gpu_count = serializers.IntegerField(min_value=0, max_value=64, default=0)
        description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    @extend_schema(responses=CatalogItemOutput(many=True), parameters=_filter_parameters(CatalogItemFilter))
    def get(self, request):
        items = _filtered(CatalogItemFilter, request, catalog_item_list())
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(items, request, view=self)
        data = CatalogItemOutput(page, many=True, context={"prices": current_prices(page)}).data
        return paginator.get_paginated_response(data)

    @extend_schema(request=InputSerializer, responses={201: CatalogItemOutput})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        item = catalog_item_create(actor=request.user, **data.validated_data)
        return Response(CatalogItemOutput(item).data, status=status.HTTP_201_CREATED)


class CatalogItemDetailApi(CatalogApi):
    @extend_schema(responses=CatalogItemDetailOutput)
    def get(self, request, pk):
        item = catalog_item_get(item_id=pk)
        context = {"prices": current_prices([item]), "history": price_history(item=item)}
        return Response(CatalogItemDetailOutput(item, context=context).data)


class ItemPricesApi(CatalogApi):
    """Prices of one item. POST adds a price in force from `effective_from`; past rows never change."""

    pagination_class = DefaultPagination  # get() answers its envelope; the schema says so

    audit_resource = "price"
    audit_actions = {"POST": "price.add"}

    @extend_schema_serializer(component_name="PriceAddInput")
    class InputSerializer(serializers.Serializer):
        usd = serializers.DecimalField(max_digits=20, decimal_places=10)
        effective_from = serializers.DateTimeField(help_text="When the price takes effect (ISO 8601).")
        term = serializers.ChoiceField(choices=PriceTerm.choices, default=PriceTerm.ON_DEMAND)
        unit = serializers.ChoiceField(
            choices=PriceUnit.choices, required=False, help_text="Default: the item's usual unit."
        )
        source_key = serializers.CharField(max_length=40, help_text="e.g. P1, or 'invoice-2026-11'")
        source = serializers.CharField(help_text="URL or citation.")
        unverified = serializers.BooleanField(default=False)
        note = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(responses=PriceOutput(many=True))
    def get(self, request, pk):
        return _paginate(self, price_history(item=catalog_item_get(item_id=pk)), PriceOutput)

    @extend_schema(request=InputSerializer, responses={201: PriceOutput})
    def post(self, request, pk):
        item = catalog_item_get(item_id=pk)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        price = price_add(actor=request.user, item=item, **data.validated_data)
        return Response(PriceOutput(price).data, status=status.HTTP_201_CREATED)


class _ProfileTerms(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    gpus_per_server = serializers.IntegerField(min_value=1, max_value=64)
    hardware_cost_usd = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    amortisation_years = serializers.IntegerField(min_value=1, max_value=10)
    power_kw = serializers.DecimalField(max_digits=7, decimal_places=3, min_value=0)
    usd_per_kwh = serializers.DecimalField(max_digits=7, decimal_places=4, min_value=0)
    pue = serializers.DecimalField(max_digits=4, decimal_places=2, min_value=1)
    operations_usd_per_year = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=0)
    expected_utilisation = serializers.DecimalField(max_digits=4, decimal_places=3, min_value=0, max_value=1)
    source = serializers.CharField()
    unverified = serializers.BooleanField(default=False)
    effective_from = serializers.DateTimeField(help_text="When the derived price per GPU-hour takes effect.")


class OnPremProfilesApi(CatalogApi):
    pagination_class = DefaultPagination  # get() answers its envelope; the schema says so
    audit_resource = "onprem_profile"
    audit_actions = {"POST": "onprem_profile.create"}

    @extend_schema_serializer(component_name="OnPremProfileCreateInput")
    class InputSerializer(_ProfileTerms):
        slug = serializers.CharField(max_length=40)
        site = serializers.CharField(max_length=40, help_text="Data centre or site name.")
        gpu_type = serializers.SlugRelatedField(slug_field="slug", queryset=GpuType.objects.all())

    @extend_schema(responses=OnPremProfileOutput(many=True))
    def get(self, request):
        return _paginate(self, onprem_profile_list(), OnPremProfileOutput)

    @extend_schema(request=InputSerializer, responses={201: OnPremProfileOutput})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        profile = onprem_profile_create(actor=request.user, **data.validated_data)
        return Response(
            OnPremProfileOutput(onprem_profile_get(slug=profile.slug)).data, status=status.HTTP_201_CREATED
        )


class OnPremProfileDetailApi(CatalogApi):
    audit_resource = "onprem_profile"
    audit_actions = {"PATCH": "onprem_profile.update"}

    @extend_schema_serializer(component_name="OnPremProfileUpdateInput")
    class InputSerializer(_ProfileTerms):
        pass

    @extend_schema(responses=OnPremProfileOutput)
    def get(self, request, slug):
        return Response(OnPremProfileOutput(onprem_profile_get(slug=slug)).data)

    @extend_schema(request=InputSerializer, responses=OnPremProfileOutput)
    def patch(self, request, slug):
        profile = onprem_profile_get(slug=slug)
        data = self.InputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        onprem_profile_update(actor=request.user, profile=profile, **data.validated_data)
        return Response(OnPremProfileOutput(onprem_profile_get(slug=slug)).data)


class TcoInput(serializers.Serializer):
    requests_per_day = serializers.FloatField(min_value=0.001)
    horizon_years = serializers.IntegerField(min_value=1, max_value=5, default=3)
    traffic = serializers.ChoiceField(choices=Traffic.choices, default=Traffic.STEADY)
    busy_hours_per_day = serializers.FloatField(
        min_value=0.1,
        max_value=23.9,
        default=6,
        help_text="Bursty traffic: hours a day the requests arrive in.",
    )
    sensitivity = serializers.ChoiceField(choices=Sensitivity.choices, default=Sensitivity.INTERNAL)
    params_billions = serializers.FloatField(
        min_value=0.000001,
        required=False,
        allow_null=True,
        default=None,
        help_text="Model size in billions of parameters.",
    )
    precision = serializers.ChoiceField(choices=Precision.choices, default=Precision.BF16)
    gpu_type = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        default=None,
        help_text="GPU requirement (slug), instead of or with the model size.",
    )
    gpu_count = serializers.IntegerField(
        required=False, allow_null=True, default=None, help_text="GPUs per replica: 1, 2, 4 or 8."
    )
    tokens_per_request = serializers.FloatField(
        min_value=0.001, required=False, allow_null=True, default=None
    )
    latency_s = serializers.FloatField(
        min_value=0.0001,
        required=False,
        allow_null=True,
        default=None,
        help_text="Seconds per request, instead of tokens per request.",
    )
    concurrency_per_replica = serializers.IntegerField(min_value=1, max_value=1024, default=8)
    spot_share = serializers.FloatField(min_value=0, max_value=1, default=0.5)
    onprem_profile = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Own-hardware profile slug; default: the cheapest that fits.",
    )


class TcoApi(APIView):
    """Monthly and cumulative cost of each deployment mode for a workload, break-even months and a
    recommendation with reasons. The console's TCO page shows the same numbers."""

    @extend_schema(parameters=[TcoInput], responses=TcoOutput)
    def get(self, request):
        data = TcoInput(data=request.query_params)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        profile = values.pop("onprem_profile") or None
        values["gpu_type"] = values["gpu_type"] or None
        comparison = tco_compare(workload=Workload(**values), onprem_profile=profile)
        return Response(comparison.as_dict())
