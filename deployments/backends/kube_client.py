"""The one seam between the Kubernetes backend and a cluster.

`KubeClient` is five verbs on plain dicts (apply, get, list by label, delete, read a log) plus the
two reads "test connection" needs. `OfficialKubeClient` speaks them over the official
`kubernetes` client; tests swap in an in-memory cluster (tests/fakes_kube.py) through the
`KUBERNETES_CLIENT_FACTORY` setting, so the backend's code is the same in both.

Every API error leaves here as a TransientBackendError (timeouts, 409, 429, 5xx: worth a retry)
or a PermanentBackendError carrying the API server's own message (403, 422, other 4xx)."""

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from .base import PermanentBackendError, TargetConfig, TransientBackendError

logger = logging.getLogger(__name__)

FIELD_MANAGER = "controlplane"
APPLY_PATCH = "application/apply-patch+yaml"


@dataclass(frozen=True, slots=True)
class Kind:
    api_version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str = "", name: str = "") -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        ns = f"/namespaces/{namespace}" if self.namespaced and namespace else ""
        return f"{base}{ns}/{self.plural}" + (f"/{name}" if name else "")


KINDS: dict[str, Kind] = {
    "Namespace": Kind("v1", "namespaces", namespaced=False),
    "Node": Kind("v1", "nodes", namespaced=False),
    "Pod": Kind("v1", "pods"),
    "Service": Kind("v1", "services"),
    "Secret": Kind("v1", "secrets"),
    "ResourceQuota": Kind("v1", "resourcequotas"),
    "NetworkPolicy": Kind("networking.k8s.io/v1", "networkpolicies"),
    "Ingress": Kind("networking.k8s.io/v1", "ingresses"),
    "Deployment": Kind("apps/v1", "deployments"),
    "HorizontalPodAutoscaler": Kind("autoscaling/v2", "horizontalpodautoscalers"),
    "PodDisruptionBudget": Kind("policy/v1", "poddisruptionbudgets"),
}


class KubeClient(Protocol):
    """What the backend needs from a cluster. Objects are plain dicts as the API serves them."""

    calls: int  # API requests made so far: the bench counts them

    def apply(self, obj: Mapping) -> dict:
        """Server-side apply as field manager `controlplane`, forcing ownership of our fields."""

    def get(self, kind: str, name: str, namespace: str = "") -> dict | None:
        """The object with its status, or None when absent."""

    def list(self, kind: str, *, namespace: str = "", label_selector: str = "") -> list[dict]:
        """Every matching object (all pages); namespace "" lists across the cluster."""

    def delete(self, kind: str, name: str, namespace: str = "") -> bool:
        """Start deleting (foreground: dependents first); False when it was already absent."""

    def read_log(
        self, namespace: str, pod: str, *, container: str, previous: bool, tail_lines: int
    ) -> str: ...

    def version(self) -> dict: ...


def as_backend_error(status: int | None, body: str | bytes | None, *, what: str):
    """Map an API server answer to the backend's two error kinds, keeping the server's words."""
    message, reason = "", ""
    try:
        status_obj = json.loads(body) if body else {}
        if isinstance(status_obj, dict):
            message, reason = status_obj.get("message", ""), status_obj.get("reason", "")
    except (ValueError, TypeError):
        message = (body.decode(errors="replace") if isinstance(body, bytes) else str(body or ""))[:500]
    text = (
        f"{what}: Kubernetes answered {status}"
        + (f" {reason}" if reason else "")
        + (f": {message}" if message else "")
    )
    # A namespace being torn down refuses new content with 403 until it is gone: retry, then it is recreated.
    terminating = status == 403 and ("being terminated" in message or reason == "NamespaceTerminating")
    if status is None or status in (408, 409, 429) or status >= 500 or terminating:
        return TransientBackendError(text)
    return PermanentBackendError(text)


class OfficialKubeClient:
    """KubeClient over `kubernetes.client.ApiClient`: one generic request path for every kind, so
    server-side apply and label-selected lists work the same for all of them."""

    def __init__(self, api_client, *, timeout: float = 15.0, page_size: int = 500):
        self.api = api_client
        self.timeout = timeout
        self.page_size = page_size
        self.calls = 0

    def _request(
        self,
        method: str,
        path: str,
        *,
        query=None,
        body=None,
        content_type="application/json",
        accept="application/json",
        what: str,
        allow_404: bool = False,
    ):
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        headers = {"Accept": accept}
        if body is not None:
            headers["Content-Type"] = content_type
        method, url, headers, body, _ = self.api.param_serialize(
            method,
            path,
            query_params=list(query or []),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        self.calls += 1
        try:
            response = self.api.call_api(
                method, url, header_params=headers, body=body, _request_timeout=self.timeout
            )
            response.read()
        except ApiException as exc:  # raised by the REST layer for some statuses
            if allow_404 and exc.status == 404:
                return None
            raise as_backend_error(exc.status, exc.body, what=what) from exc
        except (HTTPError, OSError) as exc:  # refused, reset, timed out, TLS: the cluster may come back
            raise TransientBackendError(f"{what}: cannot reach the Kubernetes API: {exc}") from exc
        if allow_404 and response.status == 404:
            return None
        if not 200 <= response.status < 300:
            raise as_backend_error(response.status, response.data, what=what)
        if accept == "application/json":
            return json.loads(response.data) if response.data else {}
        return response.data.decode(errors="replace")

    def apply(self, obj: Mapping) -> dict:
        kind = KINDS[obj["kind"]]
        meta = obj["metadata"]
        path = kind.path(meta.get("namespace", ""), meta["name"])
        return self._request(
            "PATCH",
            path,
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
            body=dict(obj),
            content_type=APPLY_PATCH,
            what=f"apply {obj['kind']} {meta.get('namespace', '')}/{meta['name']}".replace(" /", " "),
        )

    def get(self, kind: str, name: str, namespace: str = "") -> dict | None:
        return self._request(
            "GET", KINDS[kind].path(namespace, name), what=f"read {kind} {name}", allow_404=True
        )

    def list(self, kind: str, *, namespace: str = "", label_selector: str = "") -> list[dict]:
        items, token = [], ""
        while True:
            query = [("limit", str(self.page_size))]
            if label_selector:
                query.append(("labelSelector", label_selector))
            if token:
                query.append(("continue", token))
            page = self._request("GET", KINDS[kind].path(namespace), query=query, what=f"list {kind}")
            items.extend(page.get("items") or [])
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return items

    def delete(self, kind: str, name: str, namespace: str = "") -> bool:
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Foreground"}
        answer = self._request(
            "DELETE",
            KINDS[kind].path(namespace, name),
            body=body,
            what=f"delete {kind} {name}",
            allow_404=True,
        )
        return answer is not None

    def read_log(self, namespace: str, pod: str, *, container: str, previous: bool, tail_lines: int) -> str:
        query = [("container", container), ("tailLines", str(tail_lines))]
        if previous:
            query.append(("previous", "true"))
        text = self._request(
            "GET",
            f"/api/v1/namespaces/{namespace}/pods/{pod}/log",
            query=query,
            accept="text/plain",
            what=f"read log of pod {pod}",
            allow_404=True,
        )
        return text or ""

    def version(self) -> dict:
        return self._request("GET", "/version", what="read server version")


class KubeconfigError(PermanentBackendError):
    """The target's kubeconfig or context cannot be used."""


def load_kubeconfig(text: str) -> dict:
    import yaml

    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KubeconfigError(f"kubeconfig: not valid YAML ({exc.__class__.__name__}).") from exc
    if not isinstance(config, dict) or not config.get("clusters") or not config.get("contexts"):
        raise KubeconfigError("kubeconfig: needs `clusters` and `contexts`.")
    return config


def kubeconfig_contexts(config: dict) -> list[str]:
    return [c.get("name", "") for c in config.get("contexts") or [] if isinstance(c, dict)]


def official_client(target: TargetConfig) -> OfficialKubeClient:
    """An OfficialKubeClient for the target: its encrypted kubeconfig (and optional context), or the
    pod's service account when `in_cluster` is set."""
    from kubernetes import client as k8s_client
    from kubernetes import config as k8s_config
    from kubernetes.config.config_exception import ConfigException

    s = target.settings
    configuration = k8s_client.Configuration()
    configuration.retries = 0  # the reconciler retries with backoff; urllib3 must not retry underneath it
    try:
        if s.get("in_cluster"):
            k8s_config.load_incluster_config(client_configuration=configuration)
        elif s.get("kubeconfig_encrypted"):
            from controlplane.crypto import SecretUnreadable, decrypt_secret

            try:
                config = load_kubeconfig(decrypt_secret(s["kubeconfig_encrypted"]))
            except SecretUnreadable as exc:
                raise KubeconfigError(str(exc)) from exc
            context = s.get("context") or None
            if context and context not in kubeconfig_contexts(config):
                raise KubeconfigError(
                    f"context: {context!r} is not in the kubeconfig (have {kubeconfig_contexts(config)})."
                )
            k8s_config.load_kube_config_from_dict(
                config, context=context, client_configuration=configuration, persist_config=False
            )
        else:
            raise KubeconfigError(
                f"Target {target.name!r} has no kubeconfig and is not set to in-cluster "
                "credentials; upload a kubeconfig."
            )
    except ConfigException as exc:
        raise KubeconfigError(f"kubeconfig: {exc}") from exc
    return OfficialKubeClient(
        k8s_client.ApiClient(configuration), timeout=float(s.get("request_timeout_s", 15))
    )


def kubernetes_api(target: TargetConfig) -> KubeClient:
    """The client factory every Kubernetes call goes through (KUBERNETES_CLIENT_FACTORY)."""
    return import_string(settings.KUBERNETES_CLIENT_FACTORY)(target)
