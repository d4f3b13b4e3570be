"""Real services for tests: PostgreSQL, Dovecot IMAP, Redis, an SMTP sink and system Chromium.

Every server binds 127.0.0.1 on a free port, lives in its own temporary directory and is stopped by the
PID it wrote, never by process name, so parallel xdist workers (and a developer's own servers) never
step on each other. A missing binary or library raises `ServiceUnavailable`; the pytest plugin turns
that into a skip locally and a failure in CI. Recipes follow ../shared/SERVICES.md.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imap_tools import MailBoxUnencrypted
    from playwright.sync_api import Browser, Playwright

LOOPBACK = "127.0.0.1"
# A free port is picked by binding port 0 and closing the socket, so another worker can grab it
# before our server binds it; a few retries make that race harmless.
START_ATTEMPTS = 4

# From SERVICES.md and the machine notes: without the background-networking flags Chromium keeps
# dialling Google hosts that this closed network refuses; --no-sandbox is required as root.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


class ServiceUnavailable(Exception):
    """The binary or library a service needs is not installed on this machine."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ServiceStartError(RuntimeError):
    """The service is installed but did not come up; that is a real error, never a skip."""


# --- shared plumbing -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, *, timeout: float = 10.0, host: str = LOOPBACK) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise ServiceStartError(
                    f"nothing accepted connections on {host}:{port} within {timeout}s"
                ) from exc
            time.sleep(0.01)


def _wait_for_file(path: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while _read_pid(path) is None:
        if time.monotonic() > deadline:
            raise ServiceStartError(f"{path} did not appear within {timeout}s")
        time.sleep(0.005)


def _is_running(pid: int) -> bool:
    # A daemon we started is not our child, so it may sit as a zombie until init reaps it; a
    # zombie has already released its ports and files, so it counts as stopped.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    except OSError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 0)
            return True
        return False
    return state not in {"Z", "X"}


def stop_pid(
    pid: int, *, sig: signal.Signals = signal.SIGTERM, timeout: float = 10.0, group: bool = False
) -> None:
    """Signal one process (or the process group it leads) and wait for it to go; SIGKILL if it lingers.

    `group` is for daemons that lead their own session, like dovecot: its master alone takes 1-6 s
    to wind down its children on SIGTERM, the whole group exits in a few ms.
    """
    as_group = group and _leads_own_group(pid)
    send = os.killpg if as_group else os.kill
    deadline = time.monotonic() + timeout
    resend_at = 0.0
    while _is_running(pid):
        now = time.monotonic()
        if now > deadline:
            with contextlib.suppress(ProcessLookupError):
                send(pid, signal.SIGKILL)
            break
        if now >= resend_at:
            # Repeated for groups: a daemon stopped right after start may fork children after
            # the first signal, and those would keep the master waiting for them.
            with contextlib.suppress(ProcessLookupError):
                send(pid, sig)
            resend_at = now + (0.02 if as_group else timeout + 1)
        time.sleep(0.005)


def _leads_own_group(pid: int) -> bool:
    try:
        # Never signal our own group, whatever a stale pid file says.
        return os.getpgid(pid) == pid and pid != os.getpgrp()
    except ProcessLookupError:
        return False


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _make_tempdir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    # Services drop privileges (postgres, nobody), so they must be able to walk into the directory.
    path.chmod(0o755)
    return path


def _require_binary(name: str, candidates: Sequence[str | Path] = ()) -> str:
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK) and Path(candidate).is_file():
            return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise ServiceUnavailable(f"{name} not found (install the Debian package; see casework/testing/README.md)")


def run_daemonizing(command: Sequence[str], output: Path, **kwargs: Any) -> tuple[int, str]:
    """Run a command that forks a daemon; return its exit code and what it printed.

    Output goes to a file, never a pipe: the daemon inherits the descriptors, so reading a pipe to
    EOF would block until the server stops (seen with dovecot).
    """
    with output.open("ab") as sink:
        start = sink.tell()
        code = subprocess.run(
            list(command), stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT, **kwargs
        ).returncode
    with output.open("rb") as printed:
        printed.seek(start)
        return code, printed.read().decode(errors="replace")


def _is_root() -> bool:
    return os.geteuid() == 0


# --- PostgreSQL --------------------------------------------------------------------------------------


@dataclass
class PostgresCluster:
    port: int
    directory: Path
    user: str = "postgres"
    host: str = LOOPBACK
    database: str = "postgres"
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"postgres://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    @property
    def log_path(self) -> Path:
        return self.directory / "postgres.log"

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        pid = _read_pid(self.data_dir / "postmaster.pid")
        if pid is not None:
            # SIGINT is PostgreSQL's "fast" shutdown: roll back open sessions and exit at once.
            stop_pid(pid, sig=signal.SIGINT, timeout=15)
        shutil.rmtree(self.directory, ignore_errors=True)


def postgres_bindir() -> Path:
    override = os.environ.get("CASEWORK_PG_BINDIR")
    if override:
        candidates = [Path(override)]
    else:
        # Debian keeps server binaries out of PATH, one directory per major version; take the newest.
        candidates = sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
            reverse=True,
        )
        initdb_on_path = shutil.which("initdb")
        if initdb_on_path:
            candidates.append(Path(initdb_on_path).resolve().parent)
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "pg_ctl").is_file():
            return bindir
    raise ServiceUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
    )


def _postgres_run_kwargs(directory: Path) -> dict[str, Any]:
    # initdb refuses to run as root, so as root everything runs as the postgres user; a developer
    # running tests as themselves owns the cluster directly.
    kwargs: dict[str, Any] = {"cwd": directory}
    if _is_root():
        try:
            account = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ServiceUnavailable(
                "running as root but there is no 'postgres' user to own the cluster"
            ) from exc
        os.chown(directory, account.pw_uid, account.pw_gid)
        kwargs.update(user=account.pw_uid, group=account.pw_gid, extra_groups=[])
        kwargs["env"] = {**os.environ, "HOME": str(directory), "USER": "postgres", "LOGNAME": "postgres"}
    return kwargs


@contextlib.contextmanager
def postgres_cluster(*, settings: Mapping[str, str] | None = None) -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster (trust auth, superuser `postgres`) on a free loopback port."""
    bindir = postgres_bindir()
    directory = _make_tempdir("casework-pg-")
    cluster: PostgresCluster | None = None
    try:
        run_kwargs = _postgres_run_kwargs(directory)
        init_code, init_output = run_daemonizing(
            [
                str(bindir / "initdb"),
                "-D",
                str(directory / "data"),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ],
            directory / "initdb.out",
            **run_kwargs,
        )
        if init_code != 0:
            raise ServiceStartError(f"initdb failed:\n{init_output}")
        # Durability is pointless for a cluster deleted after the run and costs seconds per test DB.
        options = {
            "listen_addresses": LOOPBACK,
            "unix_socket_directories": str(directory),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            **(settings or {}),
        }
        for attempt in range(START_ATTEMPTS):
            port = free_port()
            opts = " ".join([f"-p {port}", *(f"-c {key}={value}" for key, value in options.items())])
            log_path = directory / "postgres.log"
            pg_ctl = [str(bindir / "pg_ctl"), "-D", str(directory / "data"), "-l", str(log_path)]
            code, output = run_daemonizing(
                [*pg_ctl, "-o", opts, "-w", "-t", "30", "start"], directory / "pg_ctl.out", **run_kwargs
            )
            if code == 0:
                cluster = PostgresCluster(port=port, directory=directory)
                break
            log = log_path.read_text(errors="replace") if log_path.exists() else ""
            if "already in use" not in log or attempt == START_ATTEMPTS - 1:
                raise ServiceStartError(f"pg_ctl start failed:\n{output}\n{log}")
        assert cluster is not None
        yield cluster
    finally:
        if cluster is not None:
            cluster.stop()
        else:
            pid = _read_pid(directory / "data" / "postmaster.pid")
            if pid is not None:
                stop_pid(pid, sig=signal.SIGINT)
            shutil.rmtree(directory, ignore_errors=True)


# --- Dovecot IMAP ------------------------------------------------------------------------------------

_DOVECOT_CONF = """\
protocols = imap
listen = {host}
base_dir = {dir}/run
state_dir = {dir}/state
log_path = {dir}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# Tests try wrong passwords on purpose; the default 2 s penalty only slows them down.
auth_failure_delay = 0
mail_location = maildir:{dir}/mail/%u/Maildir
{privileges}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={dir}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = {host}
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


@dataclass
class DovecotServer:
    port: int
    directory: Path
    users: dict[str, str]
    host: str = LOOPBACK
    _stopped: bool = field(default=False, repr=False)

    def maildir(self, user: str) -> Path:
        """The user's Maildir on disk (created on first login or append)."""
        return self.directory / "mail" / user / "Maildir"

    def login(self, user: str) -> MailBoxUnencrypted:
        """A logged-in imap-tools mailbox; use it as a context manager so it logs out."""
        from imap_tools import MailBoxUnencrypted

        # Plain port: MailBox (TLS) fails here with WRONG_VERSION_NUMBER.
        return MailBoxUnencrypted(self.host, self.port).login(user, self.users[user])

    def append(self, user: str, raw: bytes, folder: str = "INBOX", flags: Sequence[str] = ()) -> None:
        """Deliver one raw RFC 5322 message into `folder` through IMAP APPEND, as a real MUA would."""
        with self.login(user) as mailbox:
            if folder != "INBOX" and not mailbox.folder.exists(folder):
                mailbox.folder.create(folder)
            mailbox.append(raw, folder, flag_set=list(flags))

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        pid = _read_pid(self.directory / "run" / "master.pid")
        if pid is not None:
            stop_pid(pid, group=True)
        shutil.rmtree(self.directory, ignore_errors=True)


def _dovecot_identity() -> tuple[int, int, str]:
    """Which uid/gid owns the mail, plus config lines for running dovecot without root."""
    if _is_root():
        return pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid, ""
    uid, gid = os.getuid(), os.getgid()
    name, group = pwd.getpwuid(uid).pw_name, grp.getgrgid(gid).gr_name
    # Unprivileged dovecot can only switch to itself, so every internal user/group is the caller's.
    # chroot() needs root, so the services that would use it run unchrooted.
    privileges = (
        f"default_internal_user = {name}\ndefault_internal_group = {group}\ndefault_login_user = {name}\n"
        "service anvil {\n  chroot =\n}\nservice imap-login {\n  chroot =\n}\n"
    )
    return uid, gid, privileges


@contextlib.contextmanager
def dovecot_server(users: Mapping[str, str] | None = None) -> Iterator[DovecotServer]:
    """A private Dovecot IMAP server (plaintext, PLAIN/LOGIN auth) with the given user → password map."""
    binary = _require_binary("dovecot", ["/usr/sbin/dovecot"])
    users = dict(users if users is not None else {"support@example.test": "secret"})
    uid, gid, privileges = _dovecot_identity()
    directory = _make_tempdir("casework-dovecot-")
    server: DovecotServer | None = None
    try:
        for sub in ("run", "state", "mail"):
            (directory / sub).mkdir()
        (directory / "users").write_text("".join(f"{user}:{{PLAIN}}{pw}\n" for user, pw in users.items()))
        os.chown(directory / "mail", uid, gid)
        for user in users:
            (directory / "mail" / user).mkdir()
            os.chown(directory / "mail" / user, uid, gid)
        config = directory / "dovecot.conf"
        for attempt in range(START_ATTEMPTS):
            port = free_port()
            config.write_text(
                _DOVECOT_CONF.format(
                    host=LOOPBACK, dir=directory, port=port, uid=uid, gid=gid, privileges=privileges
                )
            )
            code, output = run_daemonizing([binary, "-c", str(config)], directory / "dovecot.out")
            if code == 0:
                server = DovecotServer(port=port, directory=directory, users=users)
                # The forked master writes its pid a moment after the parent returns; without
                # it stop() could not find the process, so do not hand the server out before.
                _wait_for_file(directory / "run" / "master.pid")
                wait_for_port(port)
                break
            log = (
                (directory / "dovecot.log").read_text(errors="replace")
                if (directory / "dovecot.log").exists()
                else ""
            )
            detail = f"{output}\n{log}"
            if "in use" not in detail or attempt == START_ATTEMPTS - 1:
                raise ServiceStartError(f"dovecot failed to start:\n{detail}")
        assert server is not None
        yield server
    finally:
        if server is not None:
            server.stop()
        else:
            pid = _read_pid(directory / "run" / "master.pid")
            if pid is not None:
                stop_pid(pid, group=True)
            shutil.rmtree(directory, ignore_errors=True)


# --- Redis ---------------------------------------------------------------------------------------------


@dataclass
class RedisServer:
    port: int
    directory: Path
    host: str = LOOPBACK
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        pid = _read_pid(self.directory / "redis.pid")
        if pid is not None:
            stop_pid(pid)
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    """A private, memory-only Redis (no snapshots, no append-only file) for the RQ task relay's tests."""
    binary = _require_binary("redis-server", ["/usr/bin/redis-server"])
    directory = _make_tempdir("casework-redis-")
    server: RedisServer | None = None
    try:
        for attempt in range(START_ATTEMPTS):
            port = free_port()
            command = [
                binary,
                "--bind", LOOPBACK, "--port", str(port), "--dir", str(directory),
                "--daemonize", "yes", "--pidfile", str(directory / "redis.pid"),
                "--logfile", str(directory / "redis.log"),
                "--save", "", "--appendonly", "no", "--protected-mode", "yes",
            ]  # fmt: skip
            code, output = run_daemonizing(command, directory / "redis.out")
            try:
                if code != 0:
                    raise ServiceStartError(output)
                _wait_for_file(directory / "redis.pid")
                wait_for_port(port)
            except ServiceStartError as exc:
                pid = _read_pid(directory / "redis.pid")
                if pid is not None:
                    stop_pid(pid)
                log = directory / "redis.log"
                detail = f"{exc}\n{log.read_text(errors='replace') if log.exists() else ''}"
                if "in use" not in detail or attempt == START_ATTEMPTS - 1:
                    raise ServiceStartError(f"redis-server failed to start:\n{detail}") from exc
                continue
            server = RedisServer(port=port, directory=directory)
            break
        assert server is not None
        yield server
    finally:
        if server is not None:
            server.stop()
        else:
            shutil.rmtree(directory, ignore_errors=True)


# --- SMTP sink ---------------------------------------------------------------------------------------

SmtpMessage = tuple[str, list[str], bytes]


class SmtpSink:
    """An aiosmtpd server that keeps every accepted message in memory, in arrival order."""

    def __init__(self) -> None:
        self.host = LOOPBACK
        self.port = 0
        self.messages: list[SmtpMessage] = []
        self._arrived = threading.Condition()
        self._controller: Any = None

    # aiosmtpd calls this from its own event-loop thread.
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        with self._arrived:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), raw))
            self._arrived.notify_all()
        return "250 Message accepted"

    def wait_for(self, count: int = 1, timeout: float = 5.0) -> list[SmtpMessage]:
        """Block until at least `count` messages arrived; TimeoutError says how many did."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self.messages) >= count, timeout=timeout):
                raise TimeoutError(f"expected {count} message(s) within {timeout}s, got {len(self.messages)}")
            return list(self.messages)

    def clear(self) -> None:
        with self._arrived:
            self.messages.clear()

    @property
    def django_settings(self) -> dict[str, Any]:
        """Settings that point Django's SMTP backend at this sink (apply with the `settings` fixture)."""
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": self.host,
            "EMAIL_PORT": self.port,
            "EMAIL_USE_TLS": False,
            "EMAIL_USE_SSL": False,
            "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
        }

    def start(self) -> None:
        try:
            from aiosmtpd.controller import Controller
        except ImportError as exc:
            raise ServiceUnavailable("aiosmtpd is not installed (pip install -e '.[dev]')") from exc
        # Controller cannot bind port 0: it checks readiness by connecting to the port it was given.
        for attempt in range(START_ATTEMPTS):
            port = free_port()
            controller = Controller(self, hostname=self.host, port=port, ready_timeout=10)
            try:
                controller.start()
            except (OSError, RuntimeError):
                if attempt == START_ATTEMPTS - 1:
                    raise
                continue
            self._controller, self.port = controller, port
            return

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@contextlib.contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()


# --- Chromium ----------------------------------------------------------------------------------------


def chromium_path() -> str:
    """The system Chromium: $CASEWORK_CHROMIUM, else Debian's /usr/bin/chromium."""
    configured = os.environ.get("CASEWORK_CHROMIUM")
    if configured:
        if os.access(configured, os.X_OK):
            return configured
        raise ServiceUnavailable(f"CASEWORK_CHROMIUM={configured!r} is not an executable file")
    # Playwright's own browser download is not reachable here, so only a system browser will do.
    return _require_binary("chromium", ["/usr/bin/chromium"])


def launch_browser(playwright: Playwright, *, headless: bool = True, **kwargs: Any) -> Browser:
    return playwright.chromium.launch(
        executable_path=chromium_path(), headless=headless, args=list(CHROMIUM_ARGS), **kwargs
    )


@contextlib.contextmanager
def chromium_browser(*, headless: bool = True) -> Iterator[Browser]:
    """Start Playwright (sync API) and the system Chromium; both are shut down on exit."""
    # Checked before Playwright starts so a missing browser reads as "unavailable", not a crash.
    chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise ServiceUnavailable("playwright is not installed (pip install -e '.[dev]')") from exc
    with sync_playwright() as playwright:
        browser = launch_browser(playwright, headless=headless)
        try:
            yield browser
        finally:
            browser.close()
