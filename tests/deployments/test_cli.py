"""The `controlplane` CLI against a live server with a real API token: apply is idempotent, a change
makes one new revision, rollout status follows a real worker, and errors name the spec field."""

import io
import json
import os
import subprocess
import sys
import textwrap

import pytest
import yaml

from controlplane.tenancy.permissions import Scope
from deployments import cli
from deployments.models import Deployment
from deployments.services import artifact_complete, artifact_create, artifact_file_put
from deployments.services.deployments import DEFAULTS, deployment_create, deployment_mark_failed
from deployments.services.targets import target_create
from tests.deployments.e2e import marked_processes, wait_artifact_ready, wait_for
from tests.factories.models import tiny_onnx_bytes

SPEC = """\
apiVersion: controlplane/v1
kind: Deployment
metadata:
  name: cli-demo
  team: alpha
spec:
  model: {name: tiny-mlp, version: 1}
  target: local
  replicas: {min: 1, max: 1}
  scaling: {metric: concurrency, target: %(target)s}
  env: {LOG_LEVEL: info, WORKERS: 2}
"""


def run(live_server, token, *argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["--url", live_server.url, "--token", token, *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def upload(team, user):
    artifact = artifact_create(team=team, actor=user, name="tiny-mlp", format="onnx")
    data = tiny_onnx_bytes()
    artifact_file_put(
        artifact=artifact, actor=user, path="model.onnx", stream=io.BytesIO(data), length=len(data)
    )
    artifact_complete(artifact=artifact, actor=user)
    return artifact


@pytest.fixture
def worker_env(artifact_dirs):
    return {"CONTROLPLANE_VAR_DIR": str(artifact_dirs)}


@pytest.mark.worker
def test_apply_rollout_get_and_delete_against_a_live_server(
    celery_worker_process, live_server, team, members, make_token, tmp_path
):
    target_create(actor=members["owner"], name="local", kind="local", gpu_inventory={})
    wait_artifact_ready(upload(team, members["deployer"]).pk)
    wait_artifact_ready(upload(team, members["deployer"]).pk)  # v2, for a rollout
    _, token = make_token(members["deployer"], team, scopes=[Scope.READ, Scope.WRITE])
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC % {"target": 4})

    assert run(live_server, token, "apply", "-f", str(spec)) == (
        0,
        'deployment "cli-demo" created (revision 1)\n',
        "",
    )
    code, out, _ = run(
        live_server, token, "rollout", "status", "cli-demo", "--timeout", "90", "--interval", "0.2"
    )
    assert (
        code == 0
        and out.splitlines()[-1]
        == 'deployment "cli-demo" successfully rolled out: revision 1, 1/1 replicas ready'
    )
    assert out.startswith('Waiting for deployment "cli-demo" rollout: revision 1')  # progress while it starts
    assert (
        run(live_server, token, "apply", "-f", str(spec))[1]
        == 'deployment "cli-demo" unchanged (revision 1)\n'
    )

    spec.write_text(SPEC % {"target": 8})
    code, out, _ = run(live_server, token, "apply", "-f", str(spec))
    assert (code, out) == (
        0,
        'deployment "cli-demo" configured: revision 2 (spec.scaling.target 4.0 → 8.0)\n',
    )
    assert (
        run(live_server, token, "apply", "-f", str(spec))[1]
        == 'deployment "cli-demo" unchanged (revision 2)\n'
    )
    code, out, _ = run(
        live_server, token, "rollout", "status", "cli-demo", "--timeout", "60", "--interval", "0.2"
    )
    assert code == 0 and "revision 2, 1/1 replicas ready" in out
    spec.write_text((SPEC % {"target": 8}).replace("version: 1", "version: 2"))
    code, out, _ = run(live_server, token, "apply", "-f", str(spec))
    assert (code, out) == (
        0,
        'deployment "cli-demo" configured: revision 3 (spec.model tiny-mlp v1 → tiny-mlp v2)\n',
    )
    code, out, _ = run(
        live_server, token, "rollout", "status", "cli-demo", "--timeout", "60", "--interval", "0.2"
    )
    assert code == 0 and "revision 3, 1/1 replicas ready" in out
    deployment = Deployment.objects.get(team=team, name="cli-demo")
    assert deployment.revisions.count() == 3 and deployment.current_revision.artifact.version == 2
    assert deployment.current_revision.env == {"LOG_LEVEL": "info", "WORKERS": "2"}
    assert len(marked_processes(deployment.key)) == 1  # the rollout retired the v1 replica

    # A refused change names the spec field and makes no revision.
    spec.write_text((SPEC % {"target": 8}).replace("{min: 1, max: 1}", "{min: 3, max: 2}"))
    code, _, err = run(live_server, token, "apply", "-f", str(spec))
    assert (code, err) == (1, "error: spec.replicas.min: min_replicas (3) cannot exceed max_replicas (2).\n")
    assert deployment.revisions.count() == 3

    code, out, _ = run(live_server, token, "get", "deployments")
    header, row = out.splitlines()
    assert header.split() == ["NAME", "STATUS", "READY", "MODEL", "TARGET", "REVISION", "ENDPOINT"]
    assert row.split()[:7] == ["cli-demo", "ready", "1/1", "tiny-mlp", "v2", "local", "3"]
    shown = json.loads(run(live_server, token, "get", "deployment", "cli-demo", "-o", "json")[1])
    assert (shown["revision"]["number"], shown["revision"]["scaling_target"]) == (3, 8.0)
    assert (
        yaml.safe_load(run(live_server, token, "get", "deployment", "cli-demo", "-o", "yaml")[1])["id"]
        == shown["id"]
    )

    # The installed console script, configured by environment variables alone.
    script = os.path.join(os.path.dirname(sys.executable), "controlplane")
    done = subprocess.run(
        [script, "get", "deployment", "cli-demo"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CONTROLPLANE_URL": live_server.url, "CONTROLPLANE_TOKEN": token},
    )
    assert done.returncode == 0 and done.stdout.splitlines()[1].startswith("cli-demo"), done.stderr

    assert run(live_server, token, "delete", "cli-demo")[0] == 0
    wait_for(lambda: Deployment.objects.get(pk=deployment.pk).status == "deleted", what="deleted")
    assert marked_processes(deployment.key) == []
    assert run(live_server, token, "get", "deployment", "cli-demo") == (
        1,
        "",
        'error: deployment "cli-demo" not found in team alpha.\n',
    )


def test_rollout_status_fails_on_a_failed_deployment_and_on_timeout(live_server, team, members, make_token):
    target = target_create(actor=members["owner"], name="local", kind="local", gpu_inventory={})
    from deployments.models import ModelArtifact

    artifact = ModelArtifact.objects.create(
        team=team,
        name="m",
        version=1,
        format="onnx",
        status="ready",
        inspection={"parameter_count": 15, "weight_bytes": 60},
    )
    deployment = deployment_create(
        team=team, actor=members["deployer"], name="slow", target=target, artifact=artifact
    )
    _, token = make_token(members["viewer"], team, scopes=[Scope.READ])
    code, out, err = run(
        live_server, token, "rollout", "status", "slow", "--timeout", "0.3", "--interval", "0.1"
    )
    assert code == 1 and out.startswith('Waiting for deployment "slow" rollout: revision 1 pending, 0 of 1')
    assert err.startswith('error: timed out after 0.3 s waiting for deployment "slow" (status pending')

    deployment_mark_failed(deployment_id=deployment.pk, reason="The model files are missing.")
    Deployment.objects.filter(pk=deployment.pk).update(observed_generation=1)
    code, _, err = run(live_server, token, "rollout", "status", "slow")
    assert (code, err) == (1, 'error: deployment "slow" failed at revision 1: The model files are missing.\n')

    code, _, err = run(live_server, token, "delete", "slow")  # a read-only token cannot
    assert code == 1 and "lacks the 'write' scope" in err
    assert run(live_server, "cpt_wrong", "get", "deployments")[0] == 1


def test_cli_defaults_are_the_servers():
    assert {k: v for k, v in DEFAULTS.items()} == cli.DEFAULTS


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(apiVersion="v2"), "apiVersion: expected 'controlplane/v1', got 'v2'."),
        (
            lambda d: d["spec"]["scaling"].update(fooBar=1),
            "spec.scaling.fooBar: unknown field; expected one of",
        ),
        (
            lambda d: d["spec"]["replicas"].update(min="two"),
            "spec.replicas.min: expected a whole number, got 'two'.",
        ),
        (lambda d: d["spec"]["env"].update(DEBUG=True), "spec.env.DEBUG: expected a string value"),
        (lambda d: d["spec"].update(secrets=[1]), "spec.secrets: expected a list of team secret names"),
        (lambda d: d["spec"]["model"].pop("name"), "spec.model.name: required"),
        (lambda d: d["metadata"].pop("name"), "metadata.name: required"),
    ],
)
def test_spec_errors_name_the_field(change, message):
    document = yaml.safe_load(SPEC % {"target": 4})
    change(document)
    with pytest.raises(cli.CliError) as caught:
        cli.parse_spec(document)
    assert str(caught.value).startswith(message)


def test_spec_maps_to_api_fields_with_defaults():
    spec = cli.parse_spec(
        yaml.safe_load(
            textwrap.dedent("""\
        apiVersion: controlplane/v1
        kind: Deployment
        metadata: {name: chat}
        spec:
          model: {name: qwen}
          target: gpu-box
          gpu: {type: l4, count: 2}
          scaling: {metric: rps, target: 20, idleTimeoutSeconds: 120}
          secrets: [HF_TOKEN]
        """)
        )
    )
    assert spec["team"] is None and spec["model"] == {"name": "qwen", "version": None}
    assert spec["fields"] == {
        **DEFAULTS,
        "gpu_type": "l4",
        "gpu_count": 2,
        "scaling_metric": "rps",
        "scaling_target": 20.0,
        "idle_timeout_s": 120,
        "secrets": {"HF_TOKEN": "HF_TOKEN"},
    }


def test_another_teams_deployments_are_not_found(live_server, team, members, make_token):
    beta = members["outsider"].memberships.get().team
    _, token = make_token(members["outsider"], beta, scopes=[Scope.READ])
    code, _, err = run(live_server, token, "--team", team.slug, "get", "deployments")
    assert code == 1 and err.startswith("error: Not found. (404): no team 'alpha' for this token")
    assert run(live_server, token, "get", "deployments") == (0, "No deployments in team beta.\n", "")


def test_apply_several_documents_each_on_its_own(live_server, team, members, make_token, tmp_path):
    from deployments.models import ModelArtifact

    target_create(actor=members["owner"], name="local", kind="local", gpu_inventory={})
    ModelArtifact.objects.create(
        team=team,
        name="tiny-mlp",
        version=1,
        format="onnx",
        status="ready",
        inspection={"parameter_count": 15, "weight_bytes": 60},
    )
    _, token = make_token(members["deployer"], team)
    one, two = (
        (SPEC % {"target": 4}).replace("cli-demo", "one"),
        (SPEC % {"target": 4}).replace("cli-demo", "two"),
    )
    spec = tmp_path / "many.yaml"
    spec.write_text(f"{one}---\n{two}")
    assert run(live_server, token, "apply", "-f", str(spec)) == (
        0,
        'deployment "one" created (revision 1)\ndeployment "two" created (revision 1)\n',
        "",
    )
    bad = two.replace("two", "three").replace("local", "mars")
    spec.write_text(f"{one}---\n{bad}---\n{two}")
    code, out, err = run(live_server, token, "apply", "-f", str(spec))
    assert (
        code == 1
        and out == 'deployment "one" unchanged (revision 1)\ndeployment "two" unchanged (revision 1)\n'
    )
    assert err == "error: document 2: spec.target: No such target available to this team.\n"
    assert sorted(Deployment.objects.values_list("name", flat=True)) == ["one", "two"]
