"""Console sign-ins and sign-outs go to the audit log. These are Django's own auth signals, not
signals inside our domain."""

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from controlplane.tenancy.models import AuditResult
from controlplane.tenancy.services.audit import audit_record


@receiver(user_logged_in)
def _logged_in(sender, request, user, **kwargs):
    audit_record(actor=user, action="session.login", resource_type="user", resource_id=user.pk)


@receiver(user_logged_out)
def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        audit_record(actor=user, action="session.logout", resource_type="user", resource_id=user.pk)


@receiver(user_login_failed)
def _login_failed(sender, credentials, request=None, **kwargs):
    audit_record(
        actor=None,
        action="session.login",
        resource_type="user",
        parameters={"username": credentials.get("username", "")},
        result=AuditResult.FAILURE,
        error="Wrong username or password.",
    )
