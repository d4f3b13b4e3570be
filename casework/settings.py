"""casework settings. Every operator-facing value comes from CASEWORK_* / DATABASE_URL (see .env.example)."""

import contextlib
from datetime import timedelta
from pathlib import Path

import dj_database_url

from casework.core.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CASEWORK_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("CASEWORK_DEBUG", False)
SECRET_KEY = env_str("CASEWORK_SECRET_KEY", "")
if not SECRET_KEY:
    if DEBUG or env_bool("CASEWORK_INSECURE_DEV_KEY", True):
        # Development/demo only; production sets CASEWORK_SECRET_KEY (or _FILE) and
        # CASEWORK_INSECURE_DEV_KEY=false so a missing key fails at start-up.
        SECRET_KEY = "casework-insecure-development-key-change-me"
    else:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("CASEWORK_SECRET_KEY (or CASEWORK_SECRET_KEY_FILE) must be set")

ALLOWED_HOSTS = env_list("CASEWORK_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CASEWORK_CSRF_TRUSTED_ORIGINS", [])
BASE_URL = env_str("CASEWORK_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# HTTPS: a site whose BASE_URL is https:// gets secure cookies by default. Behind a TLS-terminating proxy set
# CASEWORK_BEHIND_PROXY=true (trusts X-Forwarded-Proto). `casework check --deploy` is clean once set.
_HTTPS = BASE_URL.startswith("https://")
SESSION_COOKIE_SECURE = env_bool("CASEWORK_SECURE_COOKIES", _HTTPS)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
if env_bool("CASEWORK_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("CASEWORK_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("CASEWORK_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("CASEWORK_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("CASEWORK_HSTS_PRELOAD", False)
SECURE_REFERRER_POLICY = "same-origin"
# An agent's session ends after this many hours, and at once when the browser closes if so configured.
SESSION_COOKIE_AGE = env_int("CASEWORK_SESSION_HOURS", 12, minimum=1) * 3600
SESSION_EXPIRE_AT_BROWSER_CLOSE = env_bool("CASEWORK_SESSION_BROWSER_CLOSE", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "axes",
    "casework.core",
    "casework.people",
    "casework.cases",
    "casework.intake",
    "casework.triage",
    "casework.sla",
    "casework.routing",
    "casework.notify",
    "casework.portal",
    "casework.csat",
    "casework.search",
    "casework.privacy",
    "casework.knowledge",
    "casework.insights",
    "casework.api",
    "casework.reports",
    "casework.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "casework.core.security_headers.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "casework.api.middleware.ApiErrorShapeMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy (casework/core/security_headers.py): no inline script anywhere.
CASEWORK_CSP = env_str("CASEWORK_CSP", "") or (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

# Rate-limit counts live in the database so every process shares them (casework/core/ratelimit.py).
# The reports cache too (the dashboard for a minute, the weeks that ended for a day): every web process
# and the worker, which fills it ahead of the managers (reports-warm), share one copy that survives a
# restart. Its table is made by the reports app's migration 0002.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "ratelimit": {"BACKEND": "casework.core.ratelimit.CounterCache"},
    "reports": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "casework_reports_cache",
        "OPTIONS": {"MAX_ENTRIES": 5000},
    },
}
RATELIMIT_USE_CACHE = "ratelimit"
RATELIMIT_ENABLE = env_bool("CASEWORK_RATELIMIT", True)
# django-ratelimit's check knows only memcached/Redis as atomic; CounterCache is atomic by construction.
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]

ROOT_URLCONF = "casework.urls"
# <select> rendered in Python, the rest as Django does (casework/core/form_renderer.py).
FORM_RENDERER = "casework.core.form_renderer.FormRenderer"
WSGI_APPLICATION = "casework.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "casework.notify.context_processors.unread_notifications",
                "casework.people.context_processors.role",
            ],
        },
    },
]

# --- database -------------------------------------------------------------------------------------
# SQLite by default (zero-service demo), tuned for a web + worker pair: WAL so readers never block the
# writer, IMMEDIATE transactions so a write transaction takes the lock up front instead of failing with
# "database is locked" on upgrade, and a busy timeout so concurrent writers queue instead of erroring.
_sqlite_path = VAR_DIR / "casework.sqlite3"
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{_sqlite_path}")
if f"sqlite:///{_sqlite_path}" == DATABASE_URL:
    # SQLite creates the file but not its folder; a fresh checkout has no var/ yet.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("CASEWORK_DB_CONN_MAX_AGE", 60))
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Django's backend with writers queued on a lock file instead of SQLite's sleeping busy handler
    # (casework/core/db/sqlite3/base.py).
    DATABASES["default"]["ENGINE"] = "casework.core.db.sqlite3"
    # Connections are kept like PostgreSQL's (CASEWORK_DB_CONN_MAX_AGE): opening one and running the
    # PRAGMAs below cost about as much as a whole read request (bench: /healthz).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env_int("CASEWORK_SQLITE_TIMEOUT", 20, minimum=1),
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; "
            "PRAGMA busy_timeout=20000; PRAGMA temp_store=MEMORY; "
            # Pages read through the map count in the process's RSS up to this size (see
            # casework/core/db/sqlite3/base.py, process_mmap_size, for processes that turn it down).
            f"PRAGMA mmap_size={env_int('CASEWORK_SQLITE_MMAP_MB', 128, minimum=0) * 2**20};"
        ),
    }
    # In memory unless a file is asked for. Named explicitly: test tooling (pytest-django's per-worker
    # suffixes) recognises SQLite by Django's engine name, which ours is not.
    DATABASES["default"]["TEST"] = {"NAME": env_str("CASEWORK_TEST_SQLITE", "") or ":memory:"}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
# Failed sign-ins are counted per (username, IP) in the database, so every process sees them: after
# CASEWORK_LOGIN_FAILURE_LIMIT failures that pair is locked out for CASEWORK_LOGIN_LOCKOUT_MINUTES; a success
# resets the count. Behind a proxy, CASEWORK_BEHIND_PROXY makes the client IP come from X-Forwarded-For.
AUTHENTICATION_BACKENDS = [
    "casework.people.auth.SignInThrottle",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("CASEWORK_LOGIN_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("CASEWORK_LOGIN_LOCKOUT_MINUTES", 15.0, minimum=1.0))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "web/locked_out.html"
AXES_IPWARE_PROXY_COUNT = 1 if env_bool("CASEWORK_BEHIND_PROXY", False) else None
AXES_VERBOSE = False
LOGIN_URL = "web:login"
LOGIN_REDIRECT_URL = "web:queue"
LOGOUT_REDIRECT_URL = "web:login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("CASEWORK_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# whitenoise warns on every request when this folder is missing (before the first collectstatic).
with contextlib.suppress(OSError):
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = Path(env_str("CASEWORK_MEDIA_DIR", str(VAR_DIR / "media")))
MEDIA_URL = "media/"

# Request size limits: bad input gets a clear error, not a crash.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("CASEWORK_MAX_REQUEST_BYTES", 10 * 1024 * 1024, minimum=1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- tasks ----------------------------------------------------------------------------------------
TASKS = {
    "default": {
        # No ENQUEUE_ON_COMMIT: django-tasks 0.12 has no such option (it was silently ignored here), and
        # casework relies on the opposite: an enqueue is an INSERT in the caller's transaction, committed or
        # rolled back with it (core/tests/test_scheduler.py checks that).
        "BACKEND": env_str("CASEWORK_TASK_BACKEND", "django_tasks_db.DatabaseBackend"),
    }
}
# Very large installs: tasks are still written to the database in the caller's transaction, and
# `casework worker` relays the ready ones to another Django Tasks backend whose own workers run them
# (casework/core/relay.py, docs/deploy.md). "rq" is short for django-tasks-rq (pip install casework[rq]);
# any other value is the import path of a Tasks backend.
TASK_RELAY_BACKEND = {"rq": "django_tasks_rq.RQBackend"}.get(
    env_str("CASEWORK_TASK_RELAY", ""), env_str("CASEWORK_TASK_RELAY", "")
)
if TASK_RELAY_BACKEND:
    TASKS["relay"] = {"BACKEND": TASK_RELAY_BACKEND, "QUEUES": ["default"]}
if TASK_RELAY_BACKEND == "django_tasks_rq.RQBackend":
    INSTALLED_APPS.append("django_rq")
    # RQ workers must run jobs through django-tasks-rq's job class (it calls the Task, not a bare function).
    RQ = {"JOB_CLASS": "django_tasks_rq.backend.Job"}
    RQ_QUEUES = {
        "default": {
            "URL": env_str("CASEWORK_REDIS_URL", "redis://127.0.0.1:6379/0"),
            # A task that outlives this is stopped by RQ; the periodic jobs' own leases are far shorter.
            "DEFAULT_TIMEOUT": env_int("CASEWORK_RQ_TIMEOUT_SECONDS", 3600, minimum=60),
        }
    }

# --- email ----------------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("CASEWORK_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("CASEWORK_SMTP_HOST", "127.0.0.1")
EMAIL_PORT = env_int("CASEWORK_SMTP_PORT", 25, minimum=1, maximum=65535)
EMAIL_HOST_USER = env_str("CASEWORK_SMTP_USER", "")
EMAIL_HOST_PASSWORD = env_str("CASEWORK_SMTP_PASSWORD", "")
EMAIL_USE_TLS = env_bool("CASEWORK_SMTP_STARTTLS", False)
EMAIL_TIMEOUT = env_int("CASEWORK_SMTP_TIMEOUT", 20, minimum=1)
# For the demo and trials: CASEWORK_EMAIL_BACKEND=django.core.mail.backends.filebased.EmailBackend writes
# each outgoing mail as a file here instead of sending it.
EMAIL_FILE_PATH = env_str("CASEWORK_EMAIL_FILE_PATH", str(VAR_DIR / "sent-mail"))
DEFAULT_FROM_EMAIL = env_str("CASEWORK_SUPPORT_ADDRESS", "support@casework.localhost")

# --- casework domain settings ---------------------------------------------------------------------
CASEWORK = {
    "REFERENCE_PREFIX": env_str("CASEWORK_REFERENCE_PREFIX", "CW"),
    # Knowledge base (casework/knowledge/README.md): reply drafts come from the offline provider (best
    # articles and past answers) unless DRAFT_URL names an OpenAI-compatible endpoint (its base URL, e.g.
    # http://127.0.0.1:8080/v1), called by the worker, never inside a request. A resolved case whose
    # best article scored below GAP_MIN_SCORE counts as a knowledge gap for its category.
    "DRAFT_URL": env_str("CASEWORK_DRAFT_URL", ""),
    "DRAFT_MODEL": env_str("CASEWORK_DRAFT_MODEL", "gpt-4o-mini"),
    "DRAFT_API_KEY": env_str("CASEWORK_DRAFT_API_KEY", ""),
    "DRAFT_TIMEOUT_SECONDS": env_float("CASEWORK_DRAFT_TIMEOUT_SECONDS", 20.0, minimum=0.1, maximum=300),
    "GAP_MIN_SCORE": env_float("CASEWORK_KB_GAP_MIN_SCORE", 2.0, minimum=0.0),
    # Insights (casework/insights/README.md). Duplicates: after a case opens, a worker task ranks candidates
    # (open cases of the same customer/organisation, recent cases sharing words) and suggests the best
    # DUPLICATE_MAX scoring ≥ DUPLICATE_THRESHOLD (chosen on the tuning half of the labelled reports).
    "DUPLICATE_DETECTION": env_bool("CASEWORK_DUPLICATE_DETECTION", True),
    "DUPLICATE_THRESHOLD": env_float("CASEWORK_DUPLICATE_THRESHOLD", 0.35, minimum=0.0, maximum=1.0),
    "DUPLICATE_MAX": env_int("CASEWORK_DUPLICATE_MAX", 3, minimum=1, maximum=20),
    "DUPLICATE_RECENT_DAYS": env_int("CASEWORK_DUPLICATE_RECENT_DAYS", 30, minimum=1),
    "DUPLICATE_POOL": env_int("CASEWORK_DUPLICATE_POOL", 200, minimum=10, maximum=5000),
    # Stored case vectors (insights/vectorising.py): the IDF snapshot is fitted on the VECTOR_FIT_SAMPLE most
    # recent cases; every VECTOR_JOB_SECONDS the insights-vectorise job vectorises cases without a current
    # vector, VECTOR_BATCH per transaction, for at most VECTOR_JOB_BUDGET_SECONDS.
    "VECTOR_FIT_SAMPLE": env_int("CASEWORK_VECTOR_FIT_SAMPLE", 20000, minimum=100),
    "VECTOR_BATCH": env_int("CASEWORK_VECTOR_BATCH", 500, minimum=10),
    "VECTOR_JOB_SECONDS": env_int("CASEWORK_VECTOR_JOB_SECONDS", 60, minimum=10),
    # A run that leaves a backlog is due again within seconds (scheduler.BACKLOG_PAUSE): short runs, no
    # long hold on the database's write lock, and the backlog still drains (~1,000 cases per run).
    "VECTOR_JOB_BUDGET_SECONDS": env_float("CASEWORK_VECTOR_JOB_BUDGET_SECONDS", 0.5, minimum=0.1),
    # Clusters: every CLUSTER_JOB_SECONDS the cases of the last CLUSTER_WINDOW_HOURS join the cluster of
    # their most similar case (score ≥ CLUSTER_THRESHOLD); INCIDENT_MIN_CASES within INCIDENT_WINDOW_HOURS
    # raise one "possible incident" alert per cluster. New matching cases of a resolved problem are
    # counted for PROBLEM_LOOP_DAYS.
    "CLUSTER_THRESHOLD": env_float("CASEWORK_CLUSTER_THRESHOLD", 0.35, minimum=0.0, maximum=1.0),
    "CLUSTER_WINDOW_HOURS": env_int("CASEWORK_CLUSTER_WINDOW_HOURS", 72, minimum=1),
    "CLUSTER_BATCH": env_int("CASEWORK_CLUSTER_BATCH", 250, minimum=1),
    "CLUSTER_POOL": env_int("CASEWORK_CLUSTER_POOL", 3000, minimum=10),
    "CLUSTER_JOB_SECONDS": env_int("CASEWORK_CLUSTER_JOB_SECONDS", 300, minimum=10),
    # Batches per run of the job for at most this long (a catch-up drains over runs seconds apart).
    "CLUSTER_JOB_BUDGET_SECONDS": env_float("CASEWORK_CLUSTER_JOB_BUDGET_SECONDS", 0.5, minimum=0.1),
    "INCIDENT_MIN_CASES": env_int("CASEWORK_INCIDENT_MIN_CASES", 3, minimum=2),
    "INCIDENT_WINDOW_HOURS": env_int("CASEWORK_INCIDENT_WINDOW_HOURS", 24, minimum=1),
    "PROBLEM_LOOP_DAYS": env_int("CASEWORK_PROBLEM_LOOP_DAYS", 30, minimum=1),
    # Spikes: a category's/organisation's count today vs the median of the SPIKE_BASELINE_DAYS before
    # (robust z-score ≥ SPIKE_MIN_Z and at least SPIKE_MIN_COUNT cases), checked every SPIKE_JOB_SECONDS.
    "SPIKE_BASELINE_DAYS": env_int("CASEWORK_SPIKE_BASELINE_DAYS", 28, minimum=7),
    "SPIKE_MIN_Z": env_float("CASEWORK_SPIKE_MIN_Z", 3.5, minimum=0.5),
    "SPIKE_MIN_COUNT": env_int("CASEWORK_SPIKE_MIN_COUNT", 5, minimum=1),
    "SPIKE_JOB_SECONDS": env_int("CASEWORK_SPIKE_JOB_SECONDS", 3600, minimum=60),
    # Findings (insights/findings.py, the daily insights-findings job). Repeat contact: a case whose customer
    # opened another case on the same topic (stored-vector score ≥ REPEAT_CONTACT_THRESHOLD, measured in
    # insights/README.md, or an explicit follow-up) in the REPEAT_CONTACT_DAYS before it.
    "REPEAT_CONTACT_DAYS": env_int("CASEWORK_REPEAT_CONTACT_DAYS", 7, minimum=1),
    "REPEAT_CONTACT_THRESHOLD": env_float(
        "CASEWORK_REPEAT_CONTACT_THRESHOLD", 0.30, minimum=0.0, maximum=1.0
    ),
    # Resolution-time outliers: above the p90 of their priority over the OUTLIER_WINDOW_DAYS before, when
    # that priority has at least OUTLIER_MIN_SAMPLE resolved cases there.
    "OUTLIER_WINDOW_DAYS": env_int("CASEWORK_OUTLIER_WINDOW_DAYS", 90, minimum=7),
    "OUTLIER_MIN_SAMPLE": env_int("CASEWORK_OUTLIER_MIN_SAMPLE", 10, minimum=2),
    # Escalation spikes per category: SPIKE_BASELINE_DAYS and SPIKE_MIN_Z as for volume, this many at least.
    "ESCALATION_SPIKE_MIN_COUNT": env_int("CASEWORK_ESCALATION_SPIKE_MIN_COUNT", 3, minimum=1),
    # Knowledge gaps: a cluster or category with ≥ GAP_MIN_CASES cases in GAP_WINDOW_DAYS and no
    # published article scoring ≥ GAP_MIN_SCORE (CASEWORK_KB_GAP_MIN_SCORE) for its top terms.
    "GAP_MIN_CASES": env_int("CASEWORK_GAP_MIN_CASES", 5, minimum=2),
    "GAP_WINDOW_DAYS": env_int("CASEWORK_GAP_WINDOW_DAYS", 30, minimum=1),
    "FINDINGS_JOB_SECONDS": env_int("CASEWORK_FINDINGS_JOB_SECONDS", 86400, minimum=60),
    # Engineering links: issues created through the insights outbox (POST to JIRA_URL / GITHUB_URL), status
    # from signed webhooks (HMAC-SHA256 with the *_WEBHOOK_SECRET; unsigned or forged → 403).
    "JIRA_URL": env_str("CASEWORK_JIRA_URL", ""),
    "JIRA_PROJECT": env_str("CASEWORK_JIRA_PROJECT", "SUP"),
    "JIRA_TOKEN": env_str("CASEWORK_JIRA_TOKEN", ""),
    "JIRA_WEBHOOK_SECRET": env_str("CASEWORK_JIRA_WEBHOOK_SECRET", ""),
    "GITHUB_URL": env_str("CASEWORK_GITHUB_URL", "https://api.github.com"),
    "GITHUB_REPO": env_str("CASEWORK_GITHUB_REPO", ""),
    "GITHUB_TOKEN": env_str("CASEWORK_GITHUB_TOKEN", ""),
    "GITHUB_WEBHOOK_SECRET": env_str("CASEWORK_GITHUB_WEBHOOK_SECRET", ""),
    "ISSUE_OUTBOX_SECONDS": env_int("CASEWORK_ISSUE_OUTBOX_SECONDS", 10, minimum=1),
    "REOPEN_WINDOW_DAYS": env_int("CASEWORK_REOPEN_WINDOW_DAYS", 14, minimum=0),
    "MAX_MESSAGE_BYTES": env_int("CASEWORK_MAX_MESSAGE_BYTES", 256 * 1024, minimum=1024),
    "MAX_ATTACHMENT_BYTES": env_int("CASEWORK_MAX_ATTACHMENT_BYTES", 25 * 1024 * 1024, minimum=1024),
    "QUEUE_PAGE_SIZE": env_int("CASEWORK_QUEUE_PAGE_SIZE", 50, minimum=5, maximum=500),
    # A search matching more cases ranks (and lists) the newest this many: bm25/ts_rank cost per match.
    # 0 ranks every match.
    "SEARCH_RANK_LIMIT": env_int("CASEWORK_SEARCH_RANK_LIMIT", 2000, minimum=0, maximum=10_000_000),
    "API_MAX_LIMIT": env_int("CASEWORK_API_MAX_LIMIT", 200, minimum=10, maximum=1000),
    # GET /api/v1/cases counts exactly up to this many matches; above it `count` is the database's
    # estimate and `count_exact` is false (an exact COUNT of a million rows costs ~0.5 s). 0: always exact.
    "API_EXACT_COUNT_LIMIT": env_int("CASEWORK_API_EXACT_COUNT_LIMIT", 10_000, minimum=0, maximum=10**9),
    "SENTIMENT_FRUSTRATED_BELOW": env_float("CASEWORK_SENTIMENT_FRUSTRATED_BELOW", -0.5),
    # SLA engine (casework/sla/README.md): how often the sweep fires at-risk alerts and breaches, which
    # open statuses pause the clocks (waiting on the customer), and the zone/holidays given to the seeded
    # "Office hours" calendar on first migrate (edit the calendar in the admin afterwards).
    "SLA_SWEEP_SECONDS": env_int("CASEWORK_SLA_SWEEP_SECONDS", 30, minimum=5, maximum=3600),
    # A sweep run starts no new batch of SLA_SWEEP_BATCH clocks after SLA_SWEEP_BUDGET_SECONDS; a run
    # that left a backlog (a catch-up after downtime) is due again 5 s later (casework/sla/sweep.py).
    "SLA_SWEEP_BATCH": env_int("CASEWORK_SLA_SWEEP_BATCH", 50, minimum=1, maximum=5000),
    "SLA_SWEEP_BUDGET_SECONDS": env_float("CASEWORK_SLA_SWEEP_BUDGET_SECONDS", 0.5, minimum=0.05),
    "SLA_PAUSE_STATUSES": env_list("CASEWORK_SLA_PAUSE_STATUSES", ["awaiting_client"]),
    "SLA_TIMEZONE": env_str("CASEWORK_SLA_TIMEZONE", "UTC"),
    "SLA_HOLIDAY_COUNTRY": env_str("CASEWORK_SLA_HOLIDAY_COUNTRY", ""),
    "SLA_HOLIDAY_SUBDIVISION": env_str("CASEWORK_SLA_HOLIDAY_SUBDIVISION", ""),
    # Email intake (casework/intake/README.md): raw mails above this size go to quarantine; more than
    # RATE_LIMIT mails from one sender within RATE_WINDOW_SECONDS are quarantined as a mail storm.
    "INTAKE_MAX_BYTES": env_int("CASEWORK_INTAKE_MAX_BYTES", 40 * 1024 * 1024, minimum=1024),
    "INTAKE_RATE_LIMIT": env_int("CASEWORK_INTAKE_RATE_LIMIT", 30, minimum=1),
    "INTAKE_RATE_WINDOW_SECONDS": env_int("CASEWORK_INTAKE_RATE_WINDOW_SECONDS", 600, minimum=1),
    # Mail from these addresses (plus the support address and every mailbox login) is ignored: loops.
    "INTAKE_OWN_ADDRESSES": [a.lower() for a in env_list("CASEWORK_INTAKE_OWN_ADDRESSES", [])],
    "INTAKE_REPLY_LANGUAGES": env_list(
        "CASEWORK_INTAKE_REPLY_LANGUAGES", ["en", "de", "fr", "es", "it", "nl"]
    ),
    "IMAP_POLL_SECONDS": env_int("CASEWORK_IMAP_POLL_SECONDS", 60, minimum=5),
    "IMAP_BATCH": env_int("CASEWORK_IMAP_BATCH", 200, minimum=1),
    # Mails decided and stored per transaction by an IMAP poll or mbox import (see intake.ingest_many).
    "INTAKE_BATCH": env_int("CASEWORK_INTAKE_BATCH", 100, minimum=1),
    # Outbox (casework/notify/README.md): every worker checks for due mail every POLL_SECONDS; a row being
    # sent is leased for LEASE_SECONDS, renewed while the SMTP conversation lasts, so a killed worker's
    # row is sent again by another after that long. Transient SMTP failures retry after
    # BACKOFF * 2^(attempt-1) seconds, capped at an hour, until MAX_ATTEMPTS; 5xx answers fail at once.
    "OUTBOX_MAX_ATTEMPTS": env_int("CASEWORK_OUTBOX_MAX_ATTEMPTS", 8, minimum=1),
    "OUTBOX_BACKOFF_SECONDS": env_int("CASEWORK_OUTBOX_BACKOFF_SECONDS", 30, minimum=1),
    "OUTBOX_POLL_SECONDS": env_float("CASEWORK_OUTBOX_POLL_SECONDS", 1.0, minimum=0.05, maximum=60),
    "OUTBOX_LEASE_SECONDS": env_int("CASEWORK_OUTBOX_LEASE_SECONDS", 60, minimum=1),
    # The per-host hand-over journal (notify/handover.py): empty = next to the SQLite file, or
    # <VAR_DIR>/outbox-handover on PostgreSQL; a local directory; "off" to do without.
    "OUTBOX_HANDOVER_DIR": env_str("CASEWORK_OUTBOX_HANDOVER_DIR", ""),
    "OUTBOX_HANDOVER_KEEP_DAYS": env_int("CASEWORK_OUTBOX_HANDOVER_KEEP_DAYS", 7, minimum=1),
    # Worker (casework/core/scheduler.py, docs/deploy.md): the scheduler lease holder enqueues due periodic
    # jobs every TICK seconds; a job run holds a lease of JOB_LEASE_SECONDS, renewed while it runs, so a
    # killed worker's job runs again elsewhere that long after. JOB_MODULES: extra modules that register
    # periodic jobs (site-specific jobs), imported by `casework worker` at start.
    "SCHEDULER_TICK_SECONDS": env_float("CASEWORK_SCHEDULER_TICK_SECONDS", 2.0, minimum=0.05, maximum=60),
    "JOB_LEASE_SECONDS": env_int("CASEWORK_JOB_LEASE_SECONDS", 60, minimum=1),
    "JOB_MODULES": env_list("CASEWORK_JOB_MODULES", []),
    # A long-running worker imports the libraries its jobs use lazily (scikit-learn, SciPy:
    # core/workers.WARM_IMPORTS) before it claims work, so no job run pays the 1–2 s import.
    "WORKER_WARM_IMPORTS": env_bool("CASEWORK_WORKER_WARM_IMPORTS", True),
    # A relayed task still READY this long after it was handed over was lost by the runner (a Redis
    # restart without persistence): the relay hands it over again. Running it twice cannot happen: the
    # runner claims the database row first.
    "TASK_RELAY_RESEND_SECONDS": env_int("CASEWORK_TASK_RELAY_RESEND_SECONDS", 600, minimum=5),
    # Triage: move New → Triaged when rules classified the case; alert the triager after N minutes.
    "TRIAGE_AUTO_TRIAGED": env_bool("CASEWORK_TRIAGE_AUTO_TRIAGED", True),
    "UNTRIAGED_ALERT_MINUTES": env_int("CASEWORK_UNTRIAGED_ALERT_MINUTES", 15, minimum=1),
    "SCHEDULED_RULES_SECONDS": env_int("CASEWORK_SCHEDULED_RULES_SECONDS", 300, minimum=10),
    # Reports (casework/reports/README.md): the dashboard is cached this long (0 = compute every time);
    # the daily summary goes out after DAILY_HOUR local time (CASEWORK_TIME_ZONE), the weekly report on
    # WEEKLY_WEEKDAY (0 = Monday) after that hour, each once per day/week to the subscribed users.
    # The queue sidebar's desk-wide counters are shared this long per visibility scope (0 = count on
    # every render; casework/cases/selectors.py queue_counts). The agent's own counters are always live.
    "QUEUE_COUNTS_SECONDS": env_int("CASEWORK_QUEUE_COUNTS_SECONDS", 10, minimum=0, maximum=600),
    "REPORTS_CACHE_SECONDS": env_int("CASEWORK_REPORTS_CACHE_SECONDS", 60, minimum=0, maximum=3600),
    # The dashboard's weekly charts keep the rows of weeks that have ended this long (0: never).
    "REPORTS_PAST_WEEKS_SECONDS": env_int("CASEWORK_REPORTS_PAST_WEEKS_SECONDS", 86400, minimum=0),
    "REPORTS_DAILY_HOUR": env_int("CASEWORK_REPORTS_DAILY_HOUR", 7, minimum=0, maximum=23),
    "REPORTS_WEEKLY_WEEKDAY": env_int("CASEWORK_REPORTS_WEEKLY_WEEKDAY", 0, minimum=0, maximum=6),
    # Notifications (casework/notify/README.md). Rate limits for non-essential kinds: at most PER_CASE
    # notifications about one case to one recipient, and PER_RECIPIENT in all, within WINDOW_SECONDS.
    "NOTIFY_RATE_PER_CASE": env_int("CASEWORK_NOTIFY_RATE_PER_CASE", 5, minimum=1),
    "NOTIFY_RATE_PER_RECIPIENT": env_int("CASEWORK_NOTIFY_RATE_PER_RECIPIENT", 30, minimum=1),
    "NOTIFY_RATE_WINDOW_SECONDS": env_int("CASEWORK_NOTIFY_RATE_WINDOW_SECONDS", 3600, minimum=60),
    # Channels whose new cases are acknowledged when the message carries no `acknowledge` flag of its
    # own (email is always decided by intake: people yes, auto-replies, lists and bounces no).
    "NOTIFY_ACK_CHANNELS": env_list("CASEWORK_NOTIFY_ACK_CHANNELS", ["web", "chat"]),
    "NOTIFY_SIGNATURE": env_str("CASEWORK_NOTIFY_SIGNATURE", "The support team"),
    # Customer follow-ups, run by the notify jobs every NOTIFY_JOB_SECONDS: a reminder after
    # AWAITING_REMINDER_DAYS in Awaiting Client, closing after AWAITING_CLOSE_DAYS; resolved cases close
    # after RESOLVED_CLOSE_DAYS; critical open cases get an update every CRITICAL_UPDATE_HOURS, their owner
    # a reminder CRITICAL_OWNER_LEAD_MINUTES before it.
    "AWAITING_REMINDER_DAYS": env_int("CASEWORK_AWAITING_REMINDER_DAYS", 3, minimum=1),
    "AWAITING_CLOSE_DAYS": env_int("CASEWORK_AWAITING_CLOSE_DAYS", 7, minimum=1),
    "RESOLVED_CLOSE_DAYS": env_int("CASEWORK_RESOLVED_CLOSE_DAYS", 5, minimum=1),
    "CRITICAL_UPDATE_HOURS": env_float("CASEWORK_CRITICAL_UPDATE_HOURS", 2.0, minimum=0.25),
    "CRITICAL_OWNER_LEAD_MINUTES": env_int("CASEWORK_CRITICAL_OWNER_LEAD_MINUTES", 15, minimum=1),
    "NOTIFY_JOB_SECONDS": env_int("CASEWORK_NOTIFY_JOB_SECONDS", 300, minimum=10),
    "SLACK_TIMEOUT": env_int("CASEWORK_SLACK_TIMEOUT", 10, minimum=1),
    # Learned triage (casework/triage/README.md): model files live in MODEL_DIR (versioned, CV scores beside
    # each); below CONFIDENCE a field the rules did not decide is left to a person ("needs human triage");
    # the worker retrains every RETRAIN_HOURS when agents have labelled cases since. MODEL=false: rules only.
    "TRIAGE_MODEL": env_bool("CASEWORK_TRIAGE_MODEL", True),
    "TRIAGE_MODEL_DIR": Path(env_str("CASEWORK_TRIAGE_MODEL_DIR", str(VAR_DIR / "triage-models"))),
    "TRIAGE_CONFIDENCE": env_float("CASEWORK_TRIAGE_CONFIDENCE", 0.5, minimum=0.0, maximum=1.0),
    "TRIAGE_RETRAIN_HOURS": env_float("CASEWORK_TRIAGE_RETRAIN_HOURS", 24.0, minimum=0.1),
    # A retrain learns from at most this many labelled cases, the newest (casework/triage/training.py).
    "TRIAGE_TRAIN_MAX_CASES": env_int("CASEWORK_TRIAGE_TRAIN_MAX_CASES", 20000, minimum=100),
    # The worker's retrain runs in a forked child (training.py): the fit's ~30 s and ~150 MB never stay in
    # the long-lived worker, whose task loop goes on. false: fit inside the worker (platforms without fork).
    "TRIAGE_RETRAIN_IN_CHILD": env_bool("CASEWORK_TRIAGE_RETRAIN_IN_CHILD", True),
}
if CASEWORK["AWAITING_CLOSE_DAYS"] <= CASEWORK["AWAITING_REMINDER_DAYS"]:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        "CASEWORK_AWAITING_CLOSE_DAYS must be more than CASEWORK_AWAITING_REMINDER_DAYS"
    )
# Customer portal, web form and CSAT (casework/portal/README.md, casework/csat/README.md).
CASEWORK.update(
    {
        # Sign-in links: a case link in a notification lives LINK_MAX_AGE_DAYS, a magic link asked for on
        # the sign-in page MAGIC_LINK_MINUTES; both are single use. Requests for a magic link are limited
        # per address and per IP address within an hour.
        "PORTAL_LINK_MAX_AGE_DAYS": env_int("CASEWORK_PORTAL_LINK_MAX_AGE_DAYS", 14, minimum=1),
        "PORTAL_MAGIC_LINK_MINUTES": env_int("CASEWORK_PORTAL_MAGIC_LINK_MINUTES", 30, minimum=1),
        "PORTAL_LINKS_PER_ADDRESS_HOUR": env_int("CASEWORK_PORTAL_LINKS_PER_ADDRESS_HOUR", 5, minimum=1),
        "PORTAL_LINKS_PER_IP_HOUR": env_int("CASEWORK_PORTAL_LINKS_PER_IP_HOUR", 20, minimum=1),
        "PORTAL_SESSION_DAYS": env_int("CASEWORK_PORTAL_SESSION_DAYS", 14, minimum=1),
        # Web form: posts per IP address per hour, and the fewest seconds a person takes to fill it in.
        "WEBFORM_POSTS_PER_IP_HOUR": env_int("CASEWORK_WEBFORM_POSTS_PER_IP_HOUR", 10, minimum=1),
        "WEBFORM_MIN_SECONDS": env_int("CASEWORK_WEBFORM_MIN_SECONDS", 3, minimum=0),
        # Origins allowed to embed the web form in an iframe (CSP frame-ancestors); "*" allows any.
        "WEBFORM_FRAME_ANCESTORS": env_list("CASEWORK_WEBFORM_FRAME_ANCESTORS", ["*"]),
        # CSAT: survey links live LINK_DAYS; an answer can be changed for CHANGE_DAYS after the first;
        # a score at or below REVIEW_THRESHOLD opens a manager review.
        "CSAT_LINK_DAYS": env_int("CASEWORK_CSAT_LINK_DAYS", 30, minimum=1),
        "CSAT_CHANGE_DAYS": env_int("CASEWORK_CSAT_CHANGE_DAYS", 7, minimum=0),
        "CSAT_REVIEW_THRESHOLD": env_int("CASEWORK_CSAT_REVIEW_THRESHOLD", 2, minimum=0, maximum=5),
    }
)
# Access, abuse limits, attachments and retention (SECURITY.md, casework/people/permissions.py,
# casework/core/ratelimit.py, casework/core/retention.py).
CASEWORK.update(
    {
        # Access (casework/people/permissions.py, SECURITY.md): other teams' cases are "read" (read-only) or
        # "hidden" for agents. The inbound-mail endpoint takes one of these secrets (comma-separated, so a new
        # one can be rolled out before the old one is dropped), never an agent token; none set = endpoint off.
        "OTHER_TEAMS": env_str("CASEWORK_OTHER_TEAMS", "read"),
        "INBOUND_SECRETS": [s for s in env_list("CASEWORK_INBOUND_SECRET", []) if s],
        # Abuse limits (casework/core/ratelimit.py): "N/s|m|h|d" per token, per client IP and per sender.
        "RATE_API_TOKEN": env_str("CASEWORK_RATE_API_TOKEN", "600/m"),
        "RATE_API_IP": env_str("CASEWORK_RATE_API_IP", "1200/m"),
        "RATE_INBOUND_IP": env_str("CASEWORK_RATE_INBOUND_IP", "600/m"),
        # Retention of transient rows (casework/core/retention.py), in days: finished task rows, delivered or
        # failed outbox rows, released quarantine, sign-in attempt logs. Expired sessions go daily.
        # Attachments (casework/core/uploads.py): content is sniffed; programs and these extensions
        # are refused.
        "BLOCKED_ATTACHMENT_EXTENSIONS": [
            e.lower().lstrip(".")
            for e in env_list(
                "CASEWORK_BLOCKED_ATTACHMENT_EXTENSIONS",
                [
                    "exe",
                    "dll",
                    "scr",
                    "com",
                    "bat",
                    "cmd",
                    "msi",
                    "ps1",
                    "vbs",
                    "vbe",
                    "js",
                    "jse",
                    "wsf",
                    "hta",
                    "jar",
                    "cpl",
                    "lnk",
                    "reg",
                    "pif",
                    "sh",
                    "app",
                    "apk",
                ],
            )
        ],
        "KEEP_FINISHED_TASKS_DAYS": env_int("CASEWORK_KEEP_FINISHED_TASKS_DAYS", 7, minimum=1),
        "KEEP_SENT_OUTBOX_DAYS": env_int("CASEWORK_KEEP_SENT_OUTBOX_DAYS", 30, minimum=1),
        "KEEP_QUARANTINE_DAYS": env_int("CASEWORK_KEEP_QUARANTINE_DAYS", 90, minimum=1),
        "KEEP_LOGIN_LOG_DAYS": env_int("CASEWORK_KEEP_LOGIN_LOG_DAYS", 90, minimum=1),
        # Cases per write of the retention job (casework/privacy/retention.py).
        "RETENTION_BATCH": env_int("CASEWORK_RETENTION_BATCH", 200, minimum=1),
    }
)
if CASEWORK["OTHER_TEAMS"] not in ("read", "hidden"):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("CASEWORK_OTHER_TEAMS must be 'read' or 'hidden'")
if set(CASEWORK["SLA_PAUSE_STATUSES"]) - {"new", "triaged", "in_progress", "awaiting_client"}:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("CASEWORK_SLA_PAUSE_STATUSES must list open statuses only")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("CASEWORK_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # One INFO line per task start and finish drowns everything else in the worker log.
        "django_tasks": {"level": env_str("CASEWORK_TASK_LOG_LEVEL", "WARNING")},
    },
}
