"""Task names are the wire contract between the web process, beat and workers of different versions:
a message queued under a name no worker knows any more is lost. Renaming a task, or adding one
without a pinned name, has to change the list below on purpose."""

import pytest

from controlplane.celery import BEAT_SCHEDULE, app

OUR_PACKAGES = ("controlplane", "deployments", "billing", "monitoring")

# Every task of ours a worker registers, by the name it is queued under.
TASK_NAMES = {
    "tenancy.audit_purge",
    "deployments.inspect_artifact",
    "deployments.expire_uploads",
    "deployments.reconcile_deployment",
    "deployments.reconcile_sweep",
    "deployments.autoscale",
    "billing.meter_collect",
    "billing.meter_usage_hour",
    "billing.monthly_reports",
}


@pytest.fixture(scope="module")
def registered():
    """Tasks as a worker sees them: every app's tasks module imported (autodiscovery)."""
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def ours(task) -> bool:
    return task.__module__.split(".")[0] in OUR_PACKAGES


def test_registered_task_names_are_the_pinned_list(registered):
    assert {name for name, task in registered.items() if ours(task)} == TASK_NAMES


def test_no_task_of_ours_is_named_after_its_module_path(registered):
    # A task without `name=` is registered as module.function, which a refactor renames silently.
    auto_named = [name for name, task in registered.items() if name == f"{task.__module__}.{task.__name__}"]
    assert auto_named == []


def test_task_names_say_app_dot_what(registered):
    for name in TASK_NAMES:
        label, _, what = name.partition(".")
        module = registered[name].__module__
        assert what and "." not in what, name
        assert module in (f"{label}.tasks", f"controlplane.{label}.tasks"), (name, module)


def test_beat_schedules_only_pinned_names():
    assert app.conf.beat_schedule == BEAT_SCHEDULE  # the one schedule beat runs
    assert {entry["task"] for entry in BEAT_SCHEDULE.values()} <= TASK_NAMES


def test_routes_name_tasks_that_exist():
    for pattern in app.conf.task_routes:
        if pattern.endswith(".*"):
            assert any(name.startswith(pattern[:-1]) for name in TASK_NAMES), pattern
        else:
            assert pattern in TASK_NAMES, pattern
