from .env import VAR_DIR, env

# REDIS_URL switches the broker to Redis. Without it the embedded broker is kombu's filesystem
# transport: a real queue in var/ that a separate worker process consumes (not eager mode).
REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    _queue_dir = VAR_DIR / "celery" / "queue"
    _processed_dir = VAR_DIR / "celery" / "processed"
    # kombu keeps its exchange tables in ./control by default, i.e. wherever the process started.
    _control_dir = VAR_DIR / "celery" / "control"
    for _d in (_queue_dir, _processed_dir, _control_dir):
        _d.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "control_folder": str(_control_dir),
        "store_processed": False,
        # The queue is a folder the worker polls; 0.2 s keeps a deploy click snappy at negligible CPU.
        "polling_interval": 0.2,
    }

# Tasks report progress through the database (TaskRun rows), not a result backend.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One task at a time per worker process: provisioning tasks are long, and prefetching would
# park work behind a busy process.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# How long a change keeps retrying transient backend errors (an unreachable API server, 429s,
# 5xx) with backoff before it is marked failed: long enough to ride out an API server restart.
RECONCILE_RETRY_BUDGET_SECONDS = env.float("RECONCILE_RETRY_BUDGET_SECONDS", default=900.0)
