from .env import BASE_DIR, VAR_DIR, env

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_STORAGE", default="whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Model artifacts: local files under var/ by default; S3 when ARTIFACT_S3_BUCKET is set.
ARTIFACT_S3_BUCKET = env.str("ARTIFACT_S3_BUCKET", default="")
ARTIFACT_S3_PREFIX = env.str("ARTIFACT_S3_PREFIX", default="")
AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL", default="") or None
AWS_S3_REGION_NAME = env.str("AWS_DEFAULT_REGION", default="us-east-1")
ARTIFACT_LOCAL_ROOT = VAR_DIR / "artifacts"
UPLOAD_STAGING_DIR = VAR_DIR / "uploads"
ARTIFACT_MAX_BYTES = env.int("ARTIFACT_MAX_BYTES", default=200 * 1024**3)  # a 70B BF16 model is ~141 GB
# Archives: refuse expansion past this many times the archive's size (zip bombs) or this many files.
ARCHIVE_MAX_RATIO = env.int("ARCHIVE_MAX_RATIO", default=100)
ARCHIVE_MAX_FILES = env.int("ARCHIVE_MAX_FILES", default=10_000)
