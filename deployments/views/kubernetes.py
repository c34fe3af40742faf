"""Console pages of the Kubernetes backend: a target's credentials and "test connection" (platform
admins), and the download link of a deployment's manifests ("Show YAML"), which the deployment
pages link to: {% url 'deployment-manifests-yaml' team.slug deployment.pk %}."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from controlplane.console import platform_admin_required, team_for_console
from controlplane.downloads import attachment
from controlplane.exceptions import ApplicationError
from controlplane.tenancy.models import AuditResult
from controlplane.tenancy.permissions import Action
from controlplane.tenancy.services import audit_record
from deployments.models import Target
from deployments.selectors.deployments import deployment_get
from deployments.selectors.manifests import YAML_CONTENT_TYPE, deployment_manifests_file
from deployments.services.kubernetes import target_credentials_set, target_test_connection


class CredentialsForm(forms.Form):
    kubeconfig = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false"}),
        required=False,
        strip=False,
        help_text="Paste the kubeconfig. It is stored encrypted and never shown again.",
    )
    context = forms.CharField(required=False, help_text="Empty uses the kubeconfig's current-context.")
    in_cluster = forms.BooleanField(
        required=False, label="Use the control plane's in-cluster service account"
    )


def _kubernetes_target(request, pk) -> Target:
    platform_admin_required(request, "Only platform admins manage cluster credentials.")
    return get_object_or_404(Target, pk=pk, kind="kubernetes")


@login_required
def kubernetes_target(request, pk):
    target = _kubernetes_target(request, pk)
    form = CredentialsForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            target_credentials_set(target=target, actor=request.user, **form.cleaned_data)
        except ApplicationError as exc:
            field = exc.extra.get("field")
            form.add_error(field if field in form.fields else None, exc.message)
            audit_record(
                actor=request.user,
                action="target.credentials_set",
                resource_type="target",
                resource_id=target.pk,
                parameters={"name": target.name},
                result=AuditResult.FAILURE,
                error=exc.message,
            )
        else:
            messages.success(request, f"Credentials of {target.name} saved.")
            return redirect("kubernetes-target", pk=target.pk)
    settings = target.settings
    source = (
        "in-cluster service account"
        if settings.get("in_cluster")
        else "uploaded kubeconfig" + (f" (context {settings['context']})" if settings.get("context") else "")
        if settings.get("kubeconfig_encrypted")
        else "none yet"
    )
    return render(
        request, "deployments/targets/kubernetes.html", {"target": target, "form": form, "source": source}
    )


@login_required
@require_POST
def kubernetes_test_connection(request, pk):
    target = _kubernetes_target(request, pk)
    report = target_test_connection(target=target, actor=request.user)
    return render(request, "deployments/targets/_connection.html", {"target": target, "report": report})


@login_required
def deployment_manifests_download(request, slug, pk):
    team, _ = team_for_console(request, slug, Action.MODEL_VIEW)
    deployment = deployment_get(team=team, deployment_id=pk)
    try:
        filename, text = deployment_manifests_file(deployment=deployment)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("model-list", slug=slug)
    return attachment(text, filename=filename, content_type=YAML_CONTENT_TYPE)
