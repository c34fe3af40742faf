"""Cost reads: the OpenCost-shaped allocation API, budget status and monthly finance reports.
Owners, admins and finance members read their teams; a platform finance grant or a platform admin
reads all. Tokens need the `finance` scope; a team token reads its own team only."""

from datetime import date
from decimal import Decimal

from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from billing.selectors.costs import AGGREGATES, allocation, cost_scope_for, cost_teams_for, parse_window
from billing.services.budgets import budget_status
from controlplane.tenancy.models import ApiToken
from controlplane.tenancy.permissions import Scope


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(Decimal(value).quantize(Decimal("0.000001")))


class CostApiMixin:
    required_scopes = {"GET": Scope.FINANCE}

    def scope(self):
        token = self.request.auth if isinstance(self.request.auth, ApiToken) else None
        scope = cost_scope_for(user=self.request.user, token=token)
        if scope.empty:
            raise PermissionDenied("Costs are for team owners, admins and finance.")
        return scope


class AllocationInput(serializers.Serializer):
    window = serializers.CharField(
        default="7d", help_text="24h, 7d, today, week, month, lastmonth or start,end"
    )
    aggregate = serializers.ChoiceField(choices=sorted(AGGREGATES), default="team")


class AllocationApi(CostApiMixin, APIView):
    """Costs over a window grouped by team, deployment, cost centre or category, shaped like
    OpenCost's /allocation: {"code": 200, "data": [{name: allocation}]}. Idle own hardware left to
    the platform appears as `__idle__`."""

    @extend_schema(
        parameters=[AllocationInput],
        responses=inline_serializer(
            "Allocation",
            {
                "code": serializers.IntegerField(),
                "data": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def get(self, request):
        params = AllocationInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        start, end = parse_window(params.validated_data["window"])
        sets = allocation(
            scope=self.scope(), start=start, end=end, aggregate=params.validated_data["aggregate"]
        )
        data = {}
        for name, a in sets.items():
            data[name] = {
                **{k: _money(v) for k, v in a.items() if isinstance(v, Decimal)},
                "name": name,
                "window": {"start": start, "end": end},
                "start": start,
                "end": end,
                "categories": {c: _money(v) for c, v in a["categories"].items()},
            }
        return Response({"code": 200, "data": [data]})


class BudgetStatusApi(CostApiMixin, APIView):
    """Budget status of every team the caller may see costs of: month to date, forecast, budget."""

    @extend_schema(
        responses=inline_serializer(
            "BudgetStatus",
            {
                "team": serializers.CharField(),
                "month": serializers.DateField(),
                "spent": serializers.FloatField(),
                "forecast": serializers.FloatField(),
                "budget": serializers.FloatField(allow_null=True),
                "percent": serializers.FloatField(allow_null=True),
            },
            many=True,
        )
    )
    def get(self, request):
        rows = []
        for team in cost_teams_for(scope=self.scope()):
            s = budget_status(team=team)
            rows.append(
                {
                    "team": team.slug,
                    "month": s["month"],
                    "spent": _money(s["spent"]),
                    "forecast": _money(s["forecast"]),
                    "budget": _money(s["budget"]),
                    "percent": _money(s["percent"]),
                }
            )
        return Response(rows)


class ReportInput(serializers.Serializer):
    by = serializers.ChoiceField(choices=["team", "cost_centre"], default="team")
    output = serializers.ChoiceField(choices=["json", "csv", "pdf"], default="json")


class MonthlyReportApi(CostApiMixin, APIView):
    """The finance report of one month (YYYY-MM) per team or cost centre, by category and
    deployment: JSON, CSV or PDF (`output`)."""

    @extend_schema(
        parameters=[ReportInput, OpenApiParameter("month", str, OpenApiParameter.PATH)],
        responses={  # one per `output`
            (200, "application/json"): inline_serializer(
                "MonthlyReport", {"month": serializers.CharField(), "groups": serializers.ListField()}
            ),
            (200, "text/csv"): OpenApiTypes.STR,
            (200, "application/pdf"): OpenApiTypes.BINARY,
        },
    )
    def get(self, request, month: str):
        from billing.reports import monthly_report, report_csv, report_pdf

        try:
            first = date.fromisoformat(f"{month}-01")
        except ValueError as exc:
            raise Http404("Month is YYYY-MM.") from exc
        params = ReportInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        report = monthly_report(scope=self.scope(), month=first, by=params.validated_data["by"])
        output = params.validated_data["output"]
        if output == "csv":
            response = HttpResponse(report_csv(report), content_type="text/csv; charset=utf-8")
        elif output == "pdf":
            response = HttpResponse(report_pdf(report), content_type="application/pdf")
        else:
            return Response(report.as_dict())
        response["Content-Disposition"] = f'attachment; filename="costs-{month}-by-{report.by}.{output}"'
        return response
