"""Task names are the wire contract between the web process, beat and workers of different
versions: renaming a function must not rename the task queued under it."""

from celery import current_app

from deployments import tasks

PINNED = {
    tasks.inspect_artifact_task: "deployments.inspect_artifact",
    tasks.expire_uploads_task: "deployments.expire_uploads",
    tasks.reconcile_deployment_task: "deployments.reconcile_deployment",
    tasks.reconcile_sweep_task: "deployments.reconcile_sweep",
    tasks.autoscale_task: "deployments.autoscale",
}


def test_deployments_task_names_are_pinned():
    assert {task: task.name for task in PINNED} == PINNED


def test_no_task_of_ours_falls_back_to_a_module_path_name():
    current_app.loader.import_default_modules()
    ours = ("controlplane.", "deployments.", "billing.", "monitoring.")
    auto_named = [
        name
        for name, task in current_app.tasks.items()
        if name.startswith(ours) and name == f"{task.__module__}.{task.__name__}"
    ]
    assert auto_named == []
