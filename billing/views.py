"""Console pages of the price catalog, on-premises profiles and the TCO comparison. Everyone signed
in reads them; platform admins (superusers) edit through the same services as the API."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.utils import timezone

from billing.charts import cumulative_cost_svg
from billing.choices import TERMS_BY_KIND, UNITS_BY_KIND, ItemKind
from billing.filters import CatalogItemFilter
from billing.forms import CatalogItemForm, GpuTypeForm, OnPremProfileForm, PriceAddForm, TcoForm
from billing.selectors import (
    catalog_item_get,
    catalog_item_list,
    current_prices,
    gpu_type_get,
    gpu_type_list,
    onprem_profile_get,
    onprem_profile_list,
    onprem_working,
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
from controlplane.exceptions import ApplicationError
from controlplane.htmx import htmx_partial
from controlplane.tenancy.models import AuditResult
from controlplane.tenancy.platform import is_platform_admin
from controlplane.tenancy.services import audit_record


def _require_admin(request) -> None:
    if not is_platform_admin(request):
        raise PermissionDenied("Only platform admins (superusers) change the price catalog.")


def _refused(
    request, *, form, exc: ApplicationError, action: str, resource_type: str, parameters: dict
) -> None:
    """Show the service's refusal on its field and audit it, as the API's error handler does."""
    field = exc.extra.get("field")
    form.add_error(field if field in form.fields else None, exc.message)
    audit_record(
        actor=request.user,
        action=action,
        resource_type=resource_type,
        parameters=parameters,
        result=AuditResult.FAILURE,
        error=exc.message,
    )


def _price_columns(items):
    """Rows for the items table: each item with its on-demand, spot and committed price now."""
    prices = current_prices(items)
    rows = []
    for item in items:
        found = prices.get(item.pk, {})
        rows.append(
            {
                "item": item,
                "prices": sorted(found.values(), key=lambda p: (p.term != "on_demand", p.term, p.unit)),
            }
        )
    return rows


@login_required
def catalog(request):
    filterset = CatalogItemFilter(request.GET or None, queryset=catalog_item_list())
    items = list(filterset.qs if filterset.is_bound and filterset.is_valid() else catalog_item_list())
    context = {
        "filter": filterset,
        "rows": _price_columns(items),
        "gpu_types": gpu_type_list(),
        "is_admin": is_platform_admin(request),
        "now": timezone.now(),
    }
    if htmx_partial(request):
        return render(request, "billing/_items_table.html", context)
    return render(request, "billing/catalog.html", context)


@login_required
def item_detail(request, pk):
    item = catalog_item_get(item_id=pk)
    form = None
    if item.kind != ItemKind.ONPREM:
        form = PriceAddForm(
            request.POST or None, units=UNITS_BY_KIND[item.kind], terms=TERMS_BY_KIND[item.kind]
        )
        if request.method == "POST":
            _require_admin(request)
            if form.is_valid():
                try:
                    price = price_add(actor=request.user, item=item, **form.cleaned_data)
                except ApplicationError as exc:
                    _refused(
                        request,
                        form=form,
                        exc=exc,
                        action="price.add",
                        resource_type="price",
                        parameters={"item": str(item), **form.cleaned_data},
                    )
                else:
                    messages.success(
                        request,
                        f"Price {price.usd.normalize():f} USD ({price.get_unit_display()}) "
                        f"takes effect {price.effective_from:%Y-%m-%d %H:%M} UTC.",
                    )
                    return redirect("billing:item", pk=item.pk)
    elif request.method == "POST":
        raise PermissionDenied("On-premises prices are derived from their profile.")
    context = {
        "item": item,
        "history": price_history(item=item),
        "form": form,
        "current": current_prices([item]).get(item.pk, {}),
        "is_admin": is_platform_admin(request),
        "profile": getattr(item, "onprem_profile", None) if item.kind == ItemKind.ONPREM else None,
    }
    return render(request, "billing/item_detail.html", context)


@login_required
def item_new(request):
    _require_admin(request)
    form = CatalogItemForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            item = catalog_item_create(actor=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            _refused(
                request,
                form=form,
                exc=exc,
                action="catalog_item.create",
                resource_type="catalog_item",
                parameters={**form.cleaned_data, "gpu_type": str(form.cleaned_data.get("gpu_type") or "")},
            )
        else:
            messages.success(request, f"{item} added; give it a price.")
            return redirect("billing:item", pk=item.pk)
    return render(
        request,
        "billing/form.html",
        {"form": form, "title": "Add a catalog item", "submit": "Add item", "back": "billing:catalog"},
    )


@login_required
def gpu_type_new(request):
    _require_admin(request)
    form = GpuTypeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            gpu = gpu_type_create(actor=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            _refused(
                request,
                form=form,
                exc=exc,
                action="gpu_type.create",
                resource_type="gpu_type",
                parameters=form.cleaned_data,
            )
        else:
            messages.success(request, f"GPU type {gpu.slug} added.")
            return redirect("billing:catalog")
    return render(
        request,
        "billing/form.html",
        {"form": form, "title": "Add a GPU type", "submit": "Add GPU type", "back": "billing:catalog"},
    )


@login_required
def gpu_type_edit(request, slug):
    _require_admin(request)
    gpu = gpu_type_get(slug=slug)
    form = GpuTypeForm(request.POST or None, instance=gpu, editing=True)
    if request.method == "POST" and form.is_valid():
        changes = {f: form.cleaned_data[f] for f in form.changed_data}
        if changes.get("relative_speed", True) is None:
            changes.pop("relative_speed")
        try:
            gpu_type_update(actor=request.user, gpu_type=gpu_type_get(slug=slug), **changes)
        except ApplicationError as exc:
            _refused(
                request,
                form=form,
                exc=exc,
                action="gpu_type.update",
                resource_type="gpu_type",
                parameters=changes,
            )
        else:
            messages.success(request, f"GPU type {slug} saved.")
            return redirect("billing:catalog")
    return render(
        request,
        "billing/form.html",
        {"form": form, "title": f"Edit GPU type {slug}", "submit": "Save", "back": "billing:catalog"},
    )


@login_required
def onprem_list(request):
    profiles = [(p, onprem_working(profile=p)) for p in onprem_profile_list()]
    return render(
        request, "billing/onprem_list.html", {"profiles": profiles, "is_admin": is_platform_admin(request)}
    )


@login_required
def onprem_new(request):
    _require_admin(request)
    form = OnPremProfileForm(request.POST or None, initial={"effective_from": timezone.now()})
    if request.method == "POST" and form.is_valid():
        try:
            profile = onprem_profile_create(actor=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            _refused(
                request,
                form=form,
                exc=exc,
                action="onprem_profile.create",
                resource_type="onprem_profile",
                parameters={**form.cleaned_data, "gpu_type": str(form.cleaned_data.get("gpu_type"))},
            )
        else:
            messages.success(request, f"Profile {profile.slug} added with its price per GPU-hour.")
            return redirect("billing:onprem-detail", slug=profile.slug)
    return render(
        request,
        "billing/form.html",
        {
            "form": form,
            "title": "Add on-premises hardware",
            "submit": "Add profile",
            "back": "billing:onprem",
        },
    )


@login_required
def onprem_detail(request, slug):
    profile = onprem_profile_get(slug=slug)
    form = None
    if is_platform_admin(request):
        form = OnPremProfileForm(request.POST or None, instance=profile, editing=True)
    if request.method == "POST":
        _require_admin(request)
        if form.is_valid():
            changes = {f: form.cleaned_data[f] for f in form.changed_data if f != "effective_from"}
            try:
                onprem_profile_update(
                    actor=request.user,
                    profile=profile,
                    effective_from=form.cleaned_data.get("effective_from"),
                    **changes,
                )
            except ApplicationError as exc:
                _refused(
                    request,
                    form=form,
                    exc=exc,
                    action="onprem_profile.update",
                    resource_type="onprem_profile",
                    parameters=changes,
                )
            else:
                messages.success(request, f"Profile {slug} saved.")
                return redirect("billing:onprem-detail", slug=slug)
    context = {
        "profile": profile,
        "working": onprem_working(profile=profile),
        "form": form,
        "history": price_history(item=profile.item),
    }
    return render(request, "billing/onprem_detail.html", context)


@login_required
def tco(request):
    form = TcoForm(request.GET or None)
    comparison = chart = None
    if form.is_bound and form.is_valid():
        try:
            comparison = tco_compare(
                workload=Workload(**form.workload_kwargs()),
                onprem_profile=form.cleaned_data["onprem_profile"].slug
                if form.cleaned_data["onprem_profile"]
                else None,
            )
        except ApplicationError as exc:
            field = exc.extra.get("field")
            form.add_error(field if field in form.fields else None, exc.message)
        else:
            chart = cumulative_cost_svg(comparison)
    context = {"form": form, "comparison": comparison, "chart": chart}
    if htmx_partial(request):
        return render(request, "billing/_tco_panel.html", context)
    return render(request, "billing/tco.html", context)


@login_required
def cost_dashboard(request):
    """Costs of the teams the caller may see, for one month: per team over time, by deployment
    and by category, budget status with banners, showback or chargeback, report downloads."""
    from datetime import date, timedelta

    from billing.charts import daily_cost_svg
    from billing.models import BudgetAlert
    from billing.reports import monthly_report
    from billing.reports.model import CATEGORY_LABELS
    from billing.selectors.costs import cost_daily, cost_scope_for, cost_teams_for, month_range
    from billing.services.budgets import budget_status

    scope = cost_scope_for(user=request.user)
    if scope.empty:
        raise PermissionDenied("Costs are for team owners, admins and finance.")
    today = timezone.now().date()
    try:
        month = (
            date.fromisoformat(f"{request.GET['month']}-01")
            if request.GET.get("month")
            else today.replace(day=1)
        )
    except ValueError:
        month = today.replace(day=1)
    view = "chargeback" if request.GET.get("view") == "chargeback" else "showback"
    start, end = month_range(month)
    days = [(start + timedelta(days=i)).date() for i in range((end - start).days)]
    report = monthly_report(scope=scope, month=month, by="cost_centre" if view == "chargeback" else "team")
    teams = list(cost_teams_for(scope=scope))
    # A past month's status is its final spend; this month's has a forecast from the run rate.
    at = timezone.now() if month == today.replace(day=1) else end - timedelta(seconds=1)
    budgets = [{"team": team, **budget_status(team=team, now=at)} for team in teams]
    alerts = (
        BudgetAlert.objects.filter(team__in=teams, month=month)
        .select_related("team")
        .order_by("team", "kind")
    )
    categories = {}
    for group in report.groups:
        for category, usd in group.by_category.items():
            categories[category] = categories.get(category, 0) + usd
    groups = [
        (g, sorted(((CATEGORY_LABELS.get(c, c), v) for c, v in g.by_category.items()), key=lambda x: -x[1]))
        for g in report.groups
    ]
    context = {
        "month": month,
        "view": view,
        "report": report,
        "groups": groups,
        "budgets": budgets,
        "alerts": alerts,
        "chart": daily_cost_svg(cost_daily(scope=scope, start=start, end=end), days),
        "categories": sorted(
            ((CATEGORY_LABELS.get(c, c), v) for c, v in categories.items()), key=lambda x: -x[1]
        ),
        "deployments": sorted(
            ((d, v) for g in report.groups for d, v in g.by_deployment.items()), key=lambda x: -x[1]
        ),
        "previous": (month - timedelta(days=1)).replace(day=1),
        "next": (end + timedelta(days=1)).date().replace(day=1),
        "all_teams": scope.all_teams,
    }
    return render(request, "billing/dashboard.html", context)
