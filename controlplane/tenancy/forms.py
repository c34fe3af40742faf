from django import forms

from controlplane.tenancy.models import Team
from controlplane.tenancy.permissions import Role, Scope, TokenScope


class TeamCreateForm(forms.Form):
    name = forms.CharField(max_length=100)
    slug = forms.CharField(
        max_length=40,
        help_text="Lowercase letters, digits and hyphens; used in endpoint URLs. Cannot change later.",
    )
    cost_centre = forms.CharField(max_length=50, required=False)
    monthly_budget = forms.DecimalField(
        max_digits=12,
        decimal_places=2,
        min_value=0,
        required=False,
        help_text="USD per month; empty for none.",
    )


class TeamUpdateForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name", "cost_centre", "monthly_budget"]


class MemberAddForm(forms.Form):
    user = forms.CharField(label="Username or e-mail", max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class TokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What uses it, e.g. 'CI pipeline'.")
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices, widget=forms.CheckboxSelectMultiple, initial=[Scope.READ]
    )
    scope = forms.ChoiceField(
        choices=TokenScope.choices,
        initial=TokenScope.TEAM,
        label="Reach",
        help_text="A team token acts as your membership in this team, even for a superuser.",
    )
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Optional; UTC.",
    )

    def __init__(self, *args, platform_admin: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        # Only platform admins may choose; everybody else makes team tokens (a posted `scope`
        # still reaches the service, which refuses it on the field).
        if not platform_admin:
            del self.fields["scope"]
