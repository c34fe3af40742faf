import re

from django import forms

from deployments.choices import ArtifactFormat, ArtifactStatus, ScalingMetric
from deployments.models import ModelArtifact, Target
from deployments.selectors import artifact_list
from deployments.selectors.secrets import secret_list


class RegisterUriForm(forms.Form):
    name = forms.CharField(max_length=100)
    format = forms.ChoiceField(choices=ArtifactFormat.choices)
    source_uri = forms.CharField(
        label="S3 URI", max_length=1000, help_text="s3://bucket/path/to/model (file or folder)"
    )


class SizingForm(forms.Form):
    context = forms.IntegerField(min_value=128, max_value=1_048_576, initial=8192, label="Context tokens")
    concurrency = forms.IntegerField(min_value=1, max_value=1024, initial=4, label="Concurrent sequences")


ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ArtifactChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return f"{obj.name} v{obj.version} ({obj.get_format_display()})"


class DeploymentForm(forms.Form):
    """The wizard. Shapes only: deployment_create holds the rules (quota, fit, offered GPU types)."""

    name = forms.CharField(
        max_length=22, help_text="Lowercase letters, digits and hyphens; part of the endpoint URL."
    )
    artifact = ArtifactChoiceField(
        queryset=ModelArtifact.objects.none(),
        label="Model version",
        empty_label="Choose a ready model version…",
    )
    target = forms.ModelChoiceField(queryset=Target.objects.none(), empty_label="Choose where it runs…")
    gpu_type = forms.CharField(required=False, label="GPU type", widget=forms.Select)
    gpu_count = forms.IntegerField(min_value=0, max_value=16, initial=0, label="GPUs per replica")
    memory_override = forms.BooleanField(
        required=False, label="Deploy even if the sizing says it does not fit"
    )
    min_replicas = forms.IntegerField(
        min_value=0,
        max_value=100,
        initial=1,
        label="Minimum replicas",
        help_text="0 lets an idle deployment scale to zero.",
    )
    max_replicas = forms.IntegerField(min_value=1, max_value=100, initial=1, label="Maximum replicas")
    scaling_metric = forms.ChoiceField(
        choices=ScalingMetric.choices, initial=ScalingMetric.CONCURRENCY, label="Scale on"
    )
    scaling_target = forms.FloatField(
        min_value=0.01,
        initial=4.0,
        label="Target per replica",
        help_text="Replicas = ceil(observed value / target), within min and max.",
    )
    scale_up_window_s = forms.IntegerField(
        min_value=0, max_value=3600, initial=0, label="Scale-up window (s)"
    )
    scale_down_window_s = forms.IntegerField(
        min_value=0, max_value=3600, initial=300, label="Scale-down window (s)"
    )
    idle_timeout_s = forms.IntegerField(
        min_value=30,
        max_value=7 * 86400,
        initial=900,
        required=False,
        label="Idle time before scale to zero (s)",
        help_text="Counted from the first ready replica. 900 s = 15 minutes.",
    )
    env = forms.CharField(
        required=False,
        label="Environment variables",
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "LOG_LEVEL=info"}),
        help_text="NAME=value, one per line.",
    )
    secrets = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Team secrets",
        help_text="Each one reaches the replicas as an environment variable of the same name.",
    )

    def __init__(self, *args, team, partial_url: str = "", **kwargs):
        from deployments.selectors.deployments import target_list_for

        super().__init__(*args, **kwargs)
        self.fields["artifact"].queryset = artifact_list(team=team).filter(status=ArtifactStatus.READY)
        self.fields["secrets"].choices = [(s.name, s.name) for s in secret_list(team=team)]
        self.fields["target"].queryset = target_list_for(team=team)
        if partial_url:
            # htmx: the GPU choices and the fit follow the model and target; the idle timeout, the
            # minimum. innerHTML into stable containers, and the latest request wins: a swap never
            # lands on a detached element.
            hardware = {
                "hx-get": f"{partial_url}?part=hardware",
                "hx-target": "#hardware",
                "hx-swap": "innerHTML",
                "hx-sync": "#hardware:replace",
                "hx-include": "#id_artifact, #id_target, #id_gpu_type, #id_gpu_count, #id_memory_override",
            }
            for name in ("artifact", "target", "gpu_type"):
                self.fields[name].widget.attrs.update(hardware)
            self.fields["min_replicas"].widget.attrs.update(
                {
                    "hx-get": f"{partial_url}?part=scaling",
                    "hx-target": "#idle",
                    "hx-swap": "innerHTML",
                    "hx-sync": "#idle:replace",
                    "hx-trigger": "input changed delay:300ms, change",
                    "hx-include": "#id_min_replicas, #id_idle_timeout_s",
                }
            )

    def clean_env(self) -> dict[str, str]:
        env = {}
        for number, line in enumerate(self.cleaned_data["env"].splitlines(), start=1):
            if not line.strip():
                continue
            name, sep, value = line.strip().partition("=")
            if not sep or not ENV_NAME.match(name):
                raise forms.ValidationError(
                    f"Line {number}: write NAME=value with a name of letters, digits and _."
                )
            env[name] = value
        return env

    def service_options(self) -> dict:
        """Keyword arguments for deployment_create."""
        data = dict(self.cleaned_data)
        if data["min_replicas"] > 0 or data["idle_timeout_s"] is None:
            data.pop("idle_timeout_s")  # scale to zero is off; the field was hidden
        return data


class ScaleForm(forms.Form):
    min_replicas = forms.IntegerField(min_value=0, max_value=100, label="Minimum replicas")
    max_replicas = forms.IntegerField(min_value=1, max_value=100, label="Maximum replicas")


class PinForm(forms.Form):
    replicas = forms.IntegerField(
        min_value=0,
        max_value=100,
        required=False,
        label="Pin at",
        help_text="Empty hands the count back to the autoscaler.",
    )


class RolloutForm(forms.Form):
    artifact = ArtifactChoiceField(queryset=ModelArtifact.objects.none(), label="Model version")

    def __init__(self, *args, team, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["artifact"].queryset = artifact_list(team=team).filter(status=ArtifactStatus.READY)


class RollbackForm(forms.Form):
    revision = forms.IntegerField(min_value=1)


class SecretForm(forms.Form):
    """Set (create or rotate) a team secret. The value field never renders what was typed back."""

    name = forms.CharField(max_length=100, help_text="Upper-case letters, digits and _, e.g. HF_TOKEN.")
    value = forms.CharField(
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only: nobody can read it back, you included. Setting it again rotates it.",
    )
