"""Every warning of `casework check --deploy` can be answered from the environment (issue 17)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys


def _check_deploy(**env: str) -> str:
    environment = {
        **os.environ,
        "CASEWORK_DEBUG": "false",
        "CASEWORK_SECRET_KEY": secrets.token_urlsafe(60),
        "CASEWORK_INSECURE_DEV_KEY": "false",
        **env,
    }
    for inherited in (
        "DJANGO_SETTINGS_MODULE",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
    ):  # the browser tests set the latter
        environment.pop(inherited, None)
    done = subprocess.run(
        [sys.executable, "-m", "casework", "check", "--deploy"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout + done.stderr


def test_a_configured_https_site_passes_the_deploy_check():
    output = _check_deploy(
        CASEWORK_BASE_URL="https://support.example.com",
        CASEWORK_SSL_REDIRECT="true",
        CASEWORK_HSTS_SECONDS="31536000",
        CASEWORK_HSTS_INCLUDE_SUBDOMAINS="true",
        CASEWORK_HSTS_PRELOAD="true",
    )
    assert "no issues" in output, output


def test_an_http_site_is_warned_about_its_cookies():
    output = _check_deploy(CASEWORK_BASE_URL="http://support.example.com")
    assert "SESSION_COOKIE_SECURE" in output and "W012" in output
