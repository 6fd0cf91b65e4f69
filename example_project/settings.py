"""Settings of the django-sylabs-library example project.

Plain settings, as an institution would write them for a small library server. Everything that differs
between machines comes from the environment:

``SYLABS_EXAMPLE_DATA_DIR``   where the SQLite database, images and uploads live (default: ``<repo>/var``)
``DATABASE_URL``              e.g. ``postgres://user@host:5432/db``; SQLite in the data dir when unset
``DJANGO_SECRET_KEY``         required for anything but a local demo
``DJANGO_DEBUG``              ``1`` to turn DEBUG on (default off)
``DJANGO_ALLOWED_HOSTS``      comma-separated host names in addition to the loopback ones
``SYLABS_EXAMPLE_HTTPS``      ``1`` behind a TLS-terminating proxy: HTTPS redirect, secure cookies, HSTS
``SYLABS_EXAMPLE_KEYSERVER_ANY_EMAIL`` ``1`` lets any logged-in user push any key (default: verified e-mails only)
``SYLABS_EXAMPLE_PUBLIC_URL`` the URL clients use (e.g. ``https://library.example.org``); default: from the request

Images on an S3 store instead of the data dir (needs ``pip install django-sylabs-library[s3]``):

``SYLABS_EXAMPLE_S3_ENDPOINT``          S3 endpoint the app uses, e.g. ``http://127.0.0.1:8333``; S3 is on when set
``SYLABS_EXAMPLE_S3_BUCKET``            bucket (default ``images``)
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``  credentials (read by django-storages/boto3 from the environment)
``SYLABS_EXAMPLE_S3_EXTERNAL_ENDPOINT`` endpoint clients reach for presigned URLs, when it differs
``SYLABS_EXAMPLE_S3_REGION``            region name (default ``us-east-1``)
``SYLABS_EXAMPLE_DOWNLOAD_MODE``        ``presigned`` | ``proxy`` | ``stream`` (default: presigned on S3, else stream)
``SYLABS_EXAMPLE_LEGACY_DOWNLOAD_MODE`` download mode for Apptainer 1.0/1.1 (``BEARER``) clients
``SYLABS_EXAMPLE_SENDFILE``             ``x-accel-redirect`` or ``x-sendfile`` behind nginx/Apache (filesystem only)
``SYLABS_EXAMPLE_METRICS``              ``1`` serves Prometheus metrics at ``/metrics``
``SYLABS_EXAMPLE_LOG_LEVEL``            level of the app's loggers (default ``INFO``; ``DEBUG`` for more)
"""

from __future__ import annotations

import os
from pathlib import Path


def _env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


BASE_DIR = Path(__file__).resolve().parent
REPO_ROOT = BASE_DIR.parent

DATA_DIR = Path(os.environ.get("SYLABS_EXAMPLE_DATA_DIR") or REPO_ROOT / "var").resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

# A fixed key is fine for a demo on 127.0.0.1; set DJANGO_SECRET_KEY for anything reachable by others.
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or "django-insecure-example-only-3k9v!q2n#s7x@w1m$z8r^t5y&b4c"

DEBUG = _env_flag("DJANGO_DEBUG")

ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]"]
ALLOWED_HOSTS += [h.strip() for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "").split(",") if h.strip()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "guardian",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_sylabs_library",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Database: SQLite in the data dir, or whatever DATABASE_URL names (postgres:// and postgresql:// both work).
if os.environ.get("DATABASE_URL"):
    import dj_database_url

    DATABASES = {"default": dj_database_url.config(conn_max_age=60, conn_health_checks=True)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            # Several gunicorn workers write to the same file: wait for the lock instead of failing at once,
            # and take the write lock when a transaction starts (IMMEDIATE): a transaction that reads and
            # then writes would otherwise fail at once with "database is locked" when another worker
            # writes meanwhile, which the timeout cannot help (docs/deployment.md).
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
    "guardian.backends.ObjectPermissionBackend",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Static files are served by WhiteNoise straight from the apps' static folders (no collectstatic needed).
STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
MEDIA_URL = "media/"
MEDIA_ROOT = DATA_DIR / "media"

STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": "/" + MEDIA_URL},
    },
    # Not the manifest variant: that one makes every page fail until collectstatic has run.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    # The container images: a folder in the data dir, or an S3 bucket (below).
    "sylabs_library": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(DATA_DIR / "images")},
    },
}

S3_ENDPOINT = os.environ.get("SYLABS_EXAMPLE_S3_ENDPOINT") or None
if S3_ENDPOINT:
    STORAGES["sylabs_library"] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": os.environ.get("SYLABS_EXAMPLE_S3_BUCKET") or "images",
            "endpoint_url": S3_ENDPOINT,
            "region_name": os.environ.get("SYLABS_EXAMPLE_S3_REGION") or "us-east-1",
            # Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment.
            "addressing_style": "path",
            "signature_version": "s3v4",
            "file_overwrite": True,
            "querystring_auth": True,
        },
    }

WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

SYLABS_LIBRARY = {
    "PUBLIC_URL": os.environ.get("SYLABS_EXAMPLE_PUBLIC_URL") or None,
    "BASE_TEMPLATE": "base.html",
    # `apptainer key push` accepts only keys whose user IDs carry the uploader's verified
    # e-mail addresses; SYLABS_EXAMPLE_KEYSERVER_ANY_EMAIL=1 accepts any key from a logged-in
    # user (the conformance run pushes throwaway keys with random addresses).
    "KEYSERVER_REQUIRE_VERIFIED_EMAIL": not _env_flag("SYLABS_EXAMPLE_KEYSERVER_ANY_EMAIL"),
    "S3_EXTERNAL_ENDPOINT_URL": os.environ.get("SYLABS_EXAMPLE_S3_EXTERNAL_ENDPOINT") or None,
    "DOWNLOAD_MODE": os.environ.get("SYLABS_EXAMPLE_DOWNLOAD_MODE") or None,
    "LEGACY_CLIENT_DOWNLOAD_MODE": os.environ.get("SYLABS_EXAMPLE_LEGACY_DOWNLOAD_MODE") or None,
    "SENDFILE_MODE": os.environ.get("SYLABS_EXAMPLE_SENDFILE") or None,
    "METRICS_ENABLED": _env_flag("SYLABS_EXAMPLE_METRICS"),
}

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Sylabs Library API",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# allauth: log in with user name or e-mail address; no e-mail verification in the demo.
SITE_NAME = "Example Container Library"
ACCOUNT_LOGIN_METHODS = {"username", "email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGOUT_REDIRECT_URL = "/"

EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"

if _env_flag("SYLABS_EXAMPLE_HTTPS"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 3600

# SYLABS_EXAMPLE_LOG_LEVEL (default INFO) is the level of the app's loggers; at DEBUG, Django's
# django.request also logs every 4xx (WARNING). The "redact" filter keeps upload secrets, tokens and
# presigned-URL signatures out of every line (docs/deployment.md, "Logs without secrets").
LOG_LEVEL = (os.environ.get("SYLABS_EXAMPLE_LOG_LEVEL") or "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "django_sylabs_library.redact.RedactingFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"},
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
    },
    "root": {"handlers": ["stderr"], "level": "WARNING"},
    "loggers": {
        "django_sylabs_library": {"handlers": ["stderr"], "level": LOG_LEVEL, "propagate": False},
        "django.request": {
            "handlers": ["stderr"],
            "level": "WARNING" if LOG_LEVEL == "DEBUG" else "ERROR",
            "propagate": False,
        },
    },
}
