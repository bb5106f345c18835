"""Django settings. Everything a deployment changes comes from environment variables.

HOMEROOM_DATA_DIR     folder for the SQLite database, the dev secret key and the embedded
                      Celery broker; default ./var, created on first use
DATABASE_URL          e.g. postgres://user:pass@host:5432/homeroom; unset means SQLite
HOMEROOM_SECRET_KEY   Django secret key; unset means one generated into the data folder
HOMEROOM_DEBUG        1/true/yes/on turns on Django's debug mode
HOMEROOM_ALLOWED_HOSTS comma-separated host names; default 127.0.0.1,localhost
HOMEROOM_LOG_LEVEL    default INFO
REDIS_URL             Celery broker and the cache (rate limits); unset means a file-system broker
                      and a file-based cache in the data folder, no server needed
HOMEROOM_CELERY_EAGER 1 runs tasks in the calling process (tests, one-off scripts)
HOMEROOM_BASE_URL     the address families reach Homeroom at, for links in messages;
                      default http://127.0.0.1:8000
HOMEROOM_EMAIL_BACKEND file (default: <data dir>/outbox/email), console, smtp (EMAIL_HOST,
                      EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS) or a
                      dotted path to a Django e-mail backend
HOMEROOM_FROM_EMAIL   sender of e-mail; default "Homeroom <no-reply@localhost>"
HOMEROOM_SMS_BACKEND  file (default: <data dir>/outbox/sms), console, locmem, twilio
                      (TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_FROM) or a dotted path
"""

import os
import secrets
from pathlib import Path

import dj_database_url

from homeroom.paths import data_dir_from_env

TRUE_WORDS = {"1", "true", "yes", "on"}


def env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in TRUE_WORDS


def secret_key_for(*, data_dir: Path) -> str:
    """The secret key from the environment, or one kept in the data folder for development."""
    if key := os.environ.get("HOMEROOM_SECRET_KEY"):
        return key
    path = data_dir / "secret_key"
    try:
        # "x" mode: of two processes starting at once, one writes and the other reads.
        with open(path, "x", encoding="ascii", opener=_private_opener) as f:
            key = secrets.token_urlsafe(50)
            f.write(key)
            return key
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()


def _private_opener(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


PG_PLANNER_OPTIONS = "-c random_page_cost=1.1"


def databases_for(*, database_url: str, data_dir: Path) -> dict:
    if database_url and not database_url.startswith("sqlite:"):
        database = dj_database_url.parse(database_url, conn_health_checks=True)
        # Random reads cost about what sequential ones do on the SSDs databases run on now
        # (PostgreSQL's manual suggests 1.1 for them); with the default of 4, the planner scans
        # a whole table of 100,000 guardian links rather than look up an events sync's 500
        # contacts by index (22 ms against 11, measured). `?options=…` in the URL replaces this.
        database.setdefault("OPTIONS", {}).setdefault("options", PG_PLANNER_OPTIONS)
        return {"default": database}
    # SQLite: the data folder's file, or the one a sqlite:///path URL names (a job worker
    # started by the tests points at the test database this way).
    name = dj_database_url.parse(database_url)["NAME"] if database_url else None
    return {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": name or data_dir / "homeroom.sqlite3",
            "OPTIONS": {
                # WAL lets the web process read while a sync writes; NORMAL is safe under WAL.
                # A page cache of 64 MiB rather than SQLite's 2 MiB (500 pages): an events
                # sync of 1,000 changes dirties about 3,000 pages, more than the default holds
                # until the commit (its writes took 0.090 s, now 0.056-0.059 s, measured).
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-65536;"
                ),
                # Take the write lock at BEGIN, so concurrent writers wait (busy timeout)
                # instead of failing with "database is locked" when a read turns into a write.
                "transaction_mode": "IMMEDIATE",
            },
            # A file, not Django's default in-memory test database, so tests run with WAL too.
            "TEST": {"NAME": data_dir / "test_homeroom.sqlite3"},
        }
    }


BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = data_dir_from_env()

SECRET_KEY = secret_key_for(data_dir=DATA_DIR)
DEBUG = env_flag("HOMEROOM_DEBUG")
ALLOWED_HOSTS = [
    host.strip()
    for host in os.environ.get("HOMEROOM_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
    if host.strip()
]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "allauth",
    "allauth.account",
    "homeroom.directory",
    "homeroom.rostering",
    "homeroom.families",
    "homeroom.messaging",
    "homeroom.notify",
    "homeroom.sandbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from the apps (no collectstatic step for the embedded default).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "homeroom.urls"
WSGI_APPLICATION = "homeroom.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = databases_for(database_url=os.environ.get("DATABASE_URL", ""), data_dir=DATA_DIR)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Family accounts (django-allauth): sign-in by e-mail and password, e-mail verified before the
# first sign-in (an invitation e-mail's own address counts as verified: the link proved it).
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "families:home"
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True  # seed 001: "you will be automatically signed in"
ACCOUNT_CHANGE_EMAIL = True  # one sign-in address; a new one replaces it once verified
ACCOUNT_EMAIL_NOTIFICATIONS = True  # tell the person when their password or e-mail changes
ACCOUNT_ADAPTER = "homeroom.families.adapter.FamilyAccountAdapter"
ACCOUNT_FORMS = {
    "signup": "homeroom.families.forms.SignupForm",
    "add_email": "homeroom.families.forms.AddEmailForm",
}
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",  # key: the e-mail address tried
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,5/m/key",
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
}
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(
    parents=True, exist_ok=True
)  # WhiteNoise looks there too (collectstatic fills it, if run)
WHITENOISE_USE_FINDERS = True

# Logging goes to stderr only. Django's default config also mails admins on errors, and that
# mail carries the request's POST data; routing the "django" loggers to stderr alone drops it.
# No formatter or handler here prints a request body.
LOG_LEVEL = os.environ.get("HOMEROOM_LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
    },
    "filters": {
        # Request lines and "Not Found: /i/..." warnings would otherwise log invitation tokens.
        "redact_tokens": {"()": "homeroom.families.redact.InvitationTokenFilter"},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "plain",
            "filters": ["redact_tokens"],
        },
    },
    "root": {"handlers": ["stderr"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["stderr"], "level": LOG_LEVEL, "propagate": False},
        "django.server": {"handlers": ["stderr"], "level": LOG_LEVEL, "propagate": False},
        # httpx logs every request URL at INFO; the Clever client logs what matters itself.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# Celery. Tasks take ids and write to the database, so no result backend is configured.
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
else:
    # kombu's file-system transport: a queue is a folder, so the embedded default needs no
    # server. The web process and one worker on the same machine share DATA_DIR/celery.
    _celery_queue = DATA_DIR / "celery" / "queue"
    _celery_control = DATA_DIR / "celery" / "control"
    for _folder in (_celery_queue, _celery_control):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_queue),
        "data_folder_out": str(_celery_queue),
        "control_folder": str(_celery_control),
    }
# The cache holds rate-limit counters, so it must be shared by every web process: Redis when
# there is one, else files in the data folder (works across processes on one machine).
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "homeroom",
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": DATA_DIR / "cache",
        }
    }

CELERY_RESULT_BACKEND = None
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = env_flag("HOMEROOM_CELERY_EAGER")
CELERY_TASK_EAGER_PROPAGATES = True
# One periodic entry for every district's schedule (homeroom.rostering.schedules).
CELERY_BEAT_SCHEDULE = {
    "schedules-dispatch": {"task": "rostering.schedules_dispatch", "schedule": 120.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celery" / "beat-schedule")

# Messages to families. Nothing leaves the machine unless a real backend is configured: by
# default e-mail and text messages are files in the data folder's outbox.
HOMEROOM_BASE_URL = os.environ.get("HOMEROOM_BASE_URL", "http://127.0.0.1:8000").rstrip("/")
EMAIL_BACKENDS = {
    "file": "django.core.mail.backends.filebased.EmailBackend",
    "console": "django.core.mail.backends.console.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "locmem": "django.core.mail.backends.locmem.EmailBackend",
}
_email_backend = os.environ.get("HOMEROOM_EMAIL_BACKEND", "file")
EMAIL_BACKEND = EMAIL_BACKENDS.get(_email_backend, _email_backend)
EMAIL_FILE_PATH = DATA_DIR / "outbox" / "email"
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_flag("EMAIL_USE_TLS")
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = os.environ.get("HOMEROOM_FROM_EMAIL", "Homeroom <no-reply@localhost>")
# The domain of Message-IDs, by which bounces are matched to deliveries.
HOMEROOM_EMAIL_DOMAIN = DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip(">") or "localhost"
HOMEROOM_SMS_BACKEND = os.environ.get("HOMEROOM_SMS_BACKEND", "file")
HOMEROOM_SMS_FILE_PATH = DATA_DIR / "outbox" / "sms"
TWILIO_ACCOUNT_SID = os.environ.get("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM = os.environ.get("TWILIO_FROM", "")
