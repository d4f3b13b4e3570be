"""HTTP benchmark of casework: the same workload as the peer harness, against our own server.

A fresh SQLite install in a temp directory (``CASEWORK_VAR_DIR``) set up like a small support team
(benchlib.setup_team: L1/L2/L3 teams with agents, tiers and skills, so every reaction — triage, SLA
clocks, tier history, auto-assignment — runs on each new case), gunicorn with 2 sync workers on a free
127.0.0.1 port; first the harness ceiling (the same client on ``GET /healthz``), then 4 client threads
POSTing N cases to ``/api/v1/cases``; then sequential reads once the N cases exist: the API list first
page, the agent queue page, a random case page, the API case detail and keyword search on the API and in
the queue. Every measure is bounded by a count and a time cap. After the run, ``reactions_seen`` counts
the reactions' traces on the created cases in the SQLite file.

``--big M`` seeds M existing cases first (bench/seed_cases.py, through the case services, before gunicorn
starts), so the same create and read figures are taken at that size.

The ticket bodies, the search terms, the expected hit counts and the statistics (nearest-rank p50/p95/p99,
server CPU from /proc) come from the peer harness itself, imported at run time from
``../shared/bench/peer-django-helpdesk/bench.py`` (read-only), so both sides generate the same data and
compute figures the same way.

Run: ``.venv/bin/python bench/bench_api.py --n 2000`` → JSON on stdout (``--out FILE`` to also write it).
``bench/run.py`` calls it for ``make bench``; it is not a ``run() -> dict`` micro-benchmark.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import itertools
import json
import os
import random
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
sys.path.insert(0, str(BENCH))

import benchlib  # noqa: E402  (bench/ on sys.path)

PEER_DIR = ROOT.parent / "shared" / "bench" / "peer-django-helpdesk"
BIN = Path(sys.executable).parent
AGENT = "benchagent"
AGENT_PASSWORD = "bench-Pa33w0rd-casework"

# The peer's numeric priorities (1 = critical … 5 = very low) onto our four names.
PRIORITY = {1: "critical", 2: "high", 3: "medium", 4: "low", 5: "low"}


def load_peer() -> ModuleType:
    """Import the peer harness as a module (generators + stats), without copying its code."""
    path = PEER_DIR / "bench.py"
    if not path.exists():
        raise SystemExit(f"{path} not found: the peer harness lives in ../shared next to this repo")
    spec = importlib.util.spec_from_file_location("peer_dh_bench", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


peer = load_peer()
log = peer.log


def to_case_payload(p: dict) -> dict:
    return {
        "subject": p["title"],
        "description": p["description"],
        "customer_email": p["submitter_email"],
        "priority": PRIORITY[p["priority"]],
    }


# --------------------------------------------------------------------------------------------------
# the install under test
# --------------------------------------------------------------------------------------------------


# Rate-limit budgets far above what the clients can reach: the counters are still written on every
# request (their cost is measured), nothing is refused. With the shipped 600/min per token, the paired
# run of 2026-12-03 21:36 had 1,406 of 2,000 creates answered 429 — a figure of the limiter, not of
# the create.
LIMITS = {
    "CASEWORK_RATE_API_TOKEN": "1000000/m",
    "CASEWORK_RATE_API_IP": "1000000/m",
    "CASEWORK_RATE_INBOUND_IP": "1000000/m",
}


class Install:
    """A throw-away casework install: its own var dir (SQLite DB, static, media) and environment."""

    def __init__(self, var_dir: Path, src: Path = ROOT) -> None:
        self.var_dir, self.src = var_dir, src
        self.env = dict(os.environ)
        if src != ROOT:
            # Another checkout (e.g. an exported commit): its package shadows the editable install.
            self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src), self.env.get("PYTHONPATH")]))
        # SQLite in the temp dir, whatever the caller's shell has configured.
        self.env.pop("DATABASE_URL", None)
        self.env.update(
            CASEWORK_VAR_DIR=str(var_dir),
            CASEWORK_DEBUG="false",
            CASEWORK_LOG_LEVEL="WARNING",
            # Outgoing mail is built by the app but never delivered (the peer does the same).
            CASEWORK_EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
            DJANGO_SETTINGS_MODULE="casework.settings",
            **LIMITS,
        )

    @property
    def db(self) -> Path:
        return self.var_dir / "casework.sqlite3"

    def manage(self, *args: str, timeout: float = 600) -> str:
        proc = subprocess.run(
            [str(BIN / "casework"), *args],
            cwd=self.src,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"casework {' '.join(args)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-4000:]}"
            )
        return proc.stdout

    def prepare(self, *, capacity: int, big: int = 0) -> tuple[str, dict]:
        """Migrate, collect static files (whitenoise with DEBUG off), create the API agent and its token,
        seed `big` existing cases (seed_cases.py) when asked, then set up the support team
        (benchlib.setup_team). Returns the token and what the set-up reported."""
        self.manage("migrate", "--noinput", "-v", "0")
        self.manage("collectstatic", "--noinput", "-v", "0")
        self.manage(
            "shell",
            "--no-imports",
            "-c",
            "from django.contrib.auth import get_user_model\n"
            "from casework.people.models import AgentProfile\n"
            f"u = get_user_model().objects.create_user({AGENT!r}, password={AGENT_PASSWORD!r})\n"
            "AgentProfile.objects.create(user=u, tier_level=3, max_open_cases=100000)\n",
        )
        token = self.manage("create-token", AGENT, "--name", "benchmark").strip().splitlines()[-1]
        info: dict[str, Any] = {}
        if big:
            info["seeding"] = self.seed(big)
        out = self.manage("shell", "--no-imports", "-c", benchlib.setup_team_source(capacity, BENCH))
        info["team"] = json.loads(out.strip().splitlines()[-1])
        return token, info

    def seed(self, n: int) -> dict:
        """bench/seed_cases.py in this install's environment: N cases through the case services."""
        log(f"seeding {n} existing cases (bench/seed_cases.py)")
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, str(BENCH / "seed_cases.py"), "--n", str(n)],
            cwd=self.src,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=None,  # progress lines go straight to our stderr
            text=True,
            timeout=24 * 3600,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"seed_cases.py exited {proc.returncode}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["wall_s"] = round(time.perf_counter() - t0, 1)
        return result

    def query(self, sql: str) -> list[tuple]:
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            return con.execute(sql).fetchall()
        finally:
            con.close()


EXC_LINE_RE = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Denied|DoesNotExist): .*$", re.M)


class Server:
    """gunicorn on 127.0.0.1, started and stopped by PID (SIGTERM to the master, then wait)."""

    def __init__(self, install: Install, workers: int) -> None:
        self.install, self.workers = install, workers
        self.port = peer.free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = install.var_dir / "gunicorn.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import requests

        cmd = [
            str(BIN / "gunicorn"),
            "casework.wsgi:application",
            "--workers",
            str(self.workers),
            "--worker-class",
            "sync",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--timeout",
            "300",
            "--log-level",
            "warning",
        ]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            cmd, cwd=self.install.src, env=self.install.env, stdout=self._log, stderr=subprocess.STDOUT
        )
        log(f"gunicorn pid {self.proc.pid} on {self.base} ({self.workers} workers)")
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited early; see {self.log_path}")
            try:
                if requests.get(self.base + "/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise RuntimeError("gunicorn did not become ready in 60 s")

    def pids(self) -> list[int]:
        return peer.proc_tree(self.proc.pid) if self.proc else []

    def stop(self) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        workers = self.pids()[1:]
        log(f"stopping gunicorn pid {self.proc.pid}")
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        for pid in workers:  # only the workers this master started, if any outlived it
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._log.close()

    def log_summary(self) -> dict:
        text = self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""
        # The last line of each traceback names the exception; the commonest ones say what went wrong.
        kinds: dict[str, int] = {}
        for m in EXC_LINE_RE.finditer(text):
            kinds[m.group(0)[:200]] = kinds.get(m.group(0)[:200], 0) + 1
        return {
            "tracebacks": text.count("Traceback"),
            "database_is_locked": text.count("database is locked"),
            "worker_timeouts": text.count("WORKER TIMEOUT"),
            "error_lines": text.count(" ERROR "),
            "error_samples": [ln[:300] for ln in text.splitlines() if " ERROR " in ln][:3],
            "top_exceptions": dict(sorted(kinds.items(), key=lambda kv: -kv[1])[:5]),
        }


# --------------------------------------------------------------------------------------------------
# measures
# --------------------------------------------------------------------------------------------------


def run_threads(worker, threads: int, server: Server) -> tuple[float, float, float, float]:
    """Run `worker` in `threads` threads to completion; (start, wall seconds, server CPU seconds of the
    gunicorn tree, client CPU seconds of this process) over the run."""
    srv_cpu0 = peer.cpu_seconds(server.pids())
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    t_start = time.perf_counter()
    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    wall = time.perf_counter() - t_start
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    srv_cpu = peer.cpu_seconds(server.pids()) - srv_cpu0
    cli_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return t_start, wall, srv_cpu, cli_cpu


def api_create(
    base: str, token: str, payloads: list[dict], threads: int, cap_s: float, server: Server
) -> dict:
    """N × POST /api/v1/cases from `threads` keep-alive sessions; the peer's api_create, our endpoint."""
    import requests

    n = len(payloads)
    lat: list[float | None] = [None] * n
    codes: list[Any] = [None] * n
    finished: list[float | None] = [None] * n
    refs: list[str | None] = [None] * n
    counter = itertools.count()
    deadline = time.perf_counter() + cap_s
    lock = threading.Lock()
    done = [0]

    def worker() -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        url = base + "/api/v1/cases"
        while True:
            i = next(counter)
            if i >= n or time.perf_counter() > deadline:
                return
            t0 = time.perf_counter()
            try:
                r = session.post(url, json=payloads[i], timeout=120)
                code: Any = r.status_code
            except requests.RequestException as exc:
                code, r = "EXC:" + type(exc).__name__, None
            t1 = time.perf_counter()
            lat[i], codes[i], finished[i] = t1 - t0, code, t1
            if code == 201:
                refs[i] = r.json()["reference"]
            with lock:
                done[0] += 1
                if done[0] % max(1, n // 10) == 0:
                    log(f"  api create {done[0]}/{n}")

    t_start, wall, srv_cpu, cli_cpu = run_threads(worker, threads, server)

    ok_lat = [lat[i] for i in range(n) if codes[i] == 201]
    attempted = sum(1 for c in codes if c is not None)
    status_counts: dict[str, int] = {}
    for c in codes:
        if c is not None:
            status_counts[str(c)] = status_counts.get(str(c), 0) + 1
    # Throughput per tenth of the run (by completion time): shows whether creation slows as the table grows.
    ends = sorted(f - t_start for f in finished if f is not None)
    tenth = max(1, len(ends) // 10)
    blocks = []
    for k in range(0, len(ends) - tenth + 1, tenth):
        span = ends[k + tenth - 1] - (ends[k - 1] if k else 0.0)
        blocks.append(round(tenth / span, 1) if span > 0 else None)
    ncpu = os.cpu_count() or 1
    return {
        "requested": n,
        "attempted": attempted,
        "created_201": len(ok_lat),
        "status_counts": status_counts,
        "time_capped": attempted < n,
        "wall_s": round(wall, 3),
        "cases_per_s": round(len(ok_lat) / wall, 2) if wall else None,
        "cases_per_s_by_tenth": blocks,
        "latency": peer.lat_summary(ok_lat),
        "server_cpu_s": round(srv_cpu, 2),
        "server_cpu_ms_per_case": round(srv_cpu * 1000 / max(1, attempted), 2),
        "client_cpu_s": round(cli_cpu, 2),
        "client_cpu_ms_per_case": round(cli_cpu * 1000 / max(1, attempted), 2),
        "cpu_use_pct_of_all_cores": round(100 * (srv_cpu + cli_cpu) / (wall * ncpu), 1) if wall else None,
        "server_rss_mb_after": peer.rss_mb(server.pids()),
        "refs": [r for r in refs if r],
    }


def ceiling(base: str, threads: int, requests_n: int, server: Server) -> dict:
    """The harness ceiling: the same client (threads × keep-alive `requests` sessions) against the same
    gunicorn on `GET /healthz` (one `SELECT 1` on the worker's kept connection). No
    endpoint can go faster than this in this harness on this machine."""
    import requests

    lat: list[float] = []
    errors = [0]
    counter = itertools.count()
    lock = threading.Lock()

    def worker() -> None:
        session = requests.Session()
        url = base + "/healthz"
        mine = []
        while next(counter) < requests_n:
            t0 = time.perf_counter()
            try:
                ok = session.get(url, timeout=60).status_code == 200
            except requests.RequestException:
                ok = False
            mine.append(time.perf_counter() - t0)
            if not ok:
                with lock:
                    errors[0] += 1
        with lock:
            lat.extend(mine)

    _, wall, srv_cpu, cli_cpu = run_threads(worker, threads, server)
    done = len(lat)
    return {
        "endpoint": "GET /healthz (SELECT 1)",
        "requests": done,
        "errors": errors[0],
        "wall_s": round(wall, 3),
        "requests_per_s": round((done - errors[0]) / wall, 1) if wall else None,
        "latency": peer.lat_summary(lat),
        "client_cpu_ms_per_request": round(cli_cpu * 1000 / max(1, done), 3),
        "server_cpu_ms_per_request": round(srv_cpu * 1000 / max(1, done), 3),
        "client_threads": threads,
        "gunicorn_workers": server.workers,
    }


QUEUE_COUNT_RE = re.compile(r'class="queue-title">.*?<span class="muted">([\d,]+) case', re.S)


def ui_login(base: str):
    import requests

    s = requests.Session()
    s.get(base + "/login/", timeout=30)
    r = s.post(
        base + "/login/",
        data={
            "username": AGENT,
            "password": AGENT_PASSWORD,
            "csrfmiddlewaretoken": s.cookies["csrftoken"],
            "next": "/",
        },
        headers={"Referer": base + "/login/"},
        allow_redirects=False,
        timeout=60,
    )
    if r.status_code != 302 or "sessionid" not in s.cookies:
        raise RuntimeError(f"UI login failed: HTTP {r.status_code}")
    return s


def read_phase(
    args: argparse.Namespace,
    base: str,
    token: str,
    refs: list[str],
    payloads: list[dict],
    seeded_hits: dict[str, int] | None = None,
) -> dict:
    import requests

    out: dict[str, Any] = {}
    n_now = len(refs)
    rng = random.Random(args.seed + 1)
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"
    ui = ui_login(base)
    samples, cap = args.samples, args.read_cap

    def timed(session, url: str, check) -> tuple[float, bool, Any]:
        t0 = time.perf_counter()
        r = session.get(url, timeout=300)
        elapsed = time.perf_counter() - t0
        ok, extra = check(r)
        return elapsed, ok, extra

    def api_count(r) -> tuple[bool, Any]:
        if r.status_code != 200:
            return False, None
        return True, r.json().get("count")

    def ui_count(r) -> tuple[bool, Any]:
        m = QUEUE_COUNT_RE.search(r.text) if r.status_code == 200 else None
        return bool(m), int(m.group(1).replace(",", "")) if m else None

    def page_ok(r) -> tuple[bool, Any]:
        return r.status_code == 200, None

    log(f"list: API first page ({n_now} new cases{f' + {args.big} seeded' if args.big else ''})")
    res, extras = peer.sample_loop(
        lambda: timed(api, f"{base}/api/v1/cases?limit=25", api_count), samples, cap, warmup=2
    )
    res.update(count_reported=extras[-1] if extras else None, endpoint="GET /api/v1/cases?limit=25")
    out["list_api_first_page"] = res

    log("list: agent queue page")
    res, extras = peer.sample_loop(lambda: timed(ui, f"{base}/", ui_count), samples, cap)
    res.update(
        count_reported=extras[-1] if extras else None,
        endpoint="GET / (agent queue, default view: all open cases, 50 rows, server-rendered, one request)",
    )
    out["list_ui"] = res

    log("detail: agent case page")
    res, _ = peer.sample_loop(lambda: timed(ui, f"{base}/cases/{rng.choice(refs)}/", page_ok), samples, cap)
    res["endpoint"] = "GET /cases/<reference>/ (random case)"
    out["case_page"] = res

    log("detail: API case detail")
    res, _ = peer.sample_loop(
        lambda: timed(api, f"{base}/api/v1/cases/{rng.choice(refs)}", page_ok), samples, cap
    )
    res["endpoint"] = "GET /api/v1/cases/<reference> (random case)"
    out["detail_api"] = res

    out["search_api"], out["search_ui"] = {}, {}
    for term in (peer.TERM_COMMON, peer.TERM_RARE, peer.TERM_NONE):
        expected = peer.expected_hits(payloads[:n_now], term) + (seeded_hits or {}).get(term, 0)
        log(f"search: q={term}")
        res, extras = peer.sample_loop(
            lambda term=term: timed(api, f"{base}/api/v1/cases?q={term}&limit=25", api_count), samples, cap
        )
        res.update(hits_reported=extras[-1] if extras else None, hits_expected_min=expected)
        out["search_api"][term] = res
        res, extras = peer.sample_loop(
            lambda term=term: timed(ui, f"{base}/?view=all&q={term}", ui_count), samples, cap
        )
        res.update(hits_reported=extras[-1] if extras else None, hits_expected_min=expected)
        out["search_ui"][term] = res
    out["search_api"]["endpoint"] = "GET /api/v1/cases?q=<term>&limit=25"
    out["search_ui"]["endpoint"] = "GET /?view=all&q=<term> (agent queue, all statuses)"
    ui.close()
    api.close()
    return out


# --------------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------------


def versions() -> dict:
    import importlib.metadata as md

    names = ["casework", "Django", "django-ninja", "gunicorn", "whitenoise", "requests"]
    found = {}
    for name in names:
        try:
            found[name] = md.version(name)
        except md.PackageNotFoundError:
            found[name] = None
    return found | {"sqlite": sqlite3.sqlite_version}


def run_bench(args: argparse.Namespace) -> dict:
    started = time.time()
    payloads_peer = peer.gen_payloads(args.n, args.seed)
    payloads = [to_case_payload(p) for p in payloads_peer]
    var_dir = Path(tempfile.mkdtemp(prefix="casework-bench-"))
    install = Install(var_dir, Path(args.src).resolve() if args.src else ROOT)
    res: dict[str, Any] = {
        "harness": "casework bench/bench_api.py",
        "versions": versions(),
        "params": {
            "n": args.n,
            "threads": args.threads,
            "workers": args.workers,
            "samples": args.samples,
            "read_cap_s": args.read_cap,
            "seed": args.seed,
            "db": "SQLite (casework defaults: WAL, synchronous=NORMAL, IMMEDIATE transactions)",
            "debug": False,
            "source": str(args.src or ROOT),
            "data": "peer gen_payloads(n, seed): title→subject, description, submitter_email→customer_email, "
            "priority 1..5→critical/high/medium/low/low",
        },
        "search_terms": {
            t: {"expected_hits": peer.expected_hits(payloads_peer, t)}
            for t in (peer.TERM_COMMON, peer.TERM_RARE, peer.TERM_NONE)
        },
    }
    if args.big:
        res["params"]["existing_cases"] = args.big
        res["params"]["existing_cases_note"] = "seeded by bench/seed_cases.py before gunicorn starts"
    try:
        log(f"casework N={args.n}: preparing {var_dir}")
        t0 = time.perf_counter()
        token, info = install.prepare(capacity=benchlib.agent_capacity(args.n), big=args.big)
        res["setup_s"] = round(time.perf_counter() - t0, 1)
        res["team"] = info["team"]
        seeding = info.get("seeding")
        if seeding is not None:
            res["seeding"] = seeding
            log(f"  -> seeded {seeding['cases']} cases at {seeding['cases_per_s']} cases/s")
        first_new_id = seeding["last_case_id"] if seeding else 0
        server = Server(install, args.workers)
        try:
            import requests

            server.start()
            with requests.Session() as s:  # warm both workers (imports, template caches) without writes
                s.headers["Authorization"] = f"Bearer {token}"
                for _ in range(6):
                    s.get(server.base + "/api/v1/cases", timeout=60)
            if args.ceiling:
                log(f"ceiling: {args.ceiling} × GET /healthz, {args.threads} threads")
                res["ceiling"] = ceiling(server.base, args.threads, args.ceiling, server)
                log(f"  -> {res['ceiling']['requests_per_s']} requests/s")
            log(f"create_api: {args.n} POSTs, {args.threads} threads")
            create = api_create(server.base, token, payloads, args.threads, args.create_cap, server)
            refs = create.pop("refs")
            create.update(
                endpoint="POST /api/v1/cases",
                auth="Bearer token",
                client_threads=args.threads,
                gunicorn_workers=args.workers,
                existing_cases_before=args.big,
            )
            if res.get("ceiling", {}).get("requests_per_s"):
                create["pct_of_ceiling"] = round(
                    100 * create["cases_per_s"] / res["ceiling"]["requests_per_s"], 1
                )
            res["create_api"] = create
            log(f"  -> {create['cases_per_s']} cases/s")
            if refs:
                hits = (seeding or {}).get("expected_hits")
                res.update(read_phase(args, server.base, token, refs, payloads_peer, hits))
        finally:
            server.stop()
            res["server_log"] = server.log_summary()
        # Proof that the reactions ran on the cases this run created (seeded ones excluded).
        res["reactions_seen"] = benchlib.reaction_counts(install.db, since_case_id=first_new_id)
        present = {row[0] for row in install.query("SELECT name FROM sqlite_master WHERE type='table'")}
        res["db_rows_after"] = {
            table: install.query(f"SELECT COUNT(*) FROM {table}")[0][0]
            for table in (
                "cases_case",
                "cases_caseevent",
                "cases_message",
                "people_customer",
                "sla_caseclock",
                "routing_tierhistory",
                "notify_outbox",
            )
            if table in present
        }
        # Follow-up work the hooks enqueued; no worker runs during the benchmark, so it is left queued.
        task_tables = install.query("SELECT name FROM sqlite_master WHERE name LIKE '%dbtaskresult'")
        res["tasks_queued_after"] = (
            install.query(f"SELECT COUNT(*) FROM {task_tables[0][0]}")[0][0] if task_tables else None
        )
        res["db_size_mb_end"] = round(
            sum(p.stat().st_size for p in var_dir.glob("casework.sqlite3*")) / 1e6, 1
        )
        res["total_runtime_s"] = round(time.time() - started, 1)
    finally:
        # Keep the var dir (DB, gunicorn.log) only when asked, also when the run failed part-way.
        if args.keep:
            res["var_dir"] = str(var_dir)
        else:
            shutil.rmtree(var_dir, ignore_errors=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="cases to create (default 2000)")
    ap.add_argument("--threads", type=int, default=4, help="client threads for API create (default 4)")
    ap.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    ap.add_argument("--samples", type=int, default=50, help="sequential samples per read measure")
    ap.add_argument("--read-cap", type=float, default=60, help="seconds cap per read measure (default 60)")
    ap.add_argument("--create-cap", type=float, default=1800, help="seconds cap for API create")
    ap.add_argument("--seed", type=int, default=20240501, help="data seed (the peer default)")
    ap.add_argument("--src", default=None, help="bench another casework checkout (default: this repo)")
    ap.add_argument(
        "--big",
        type=int,
        default=0,
        help="seed this many existing cases (bench/seed_cases.py) before the server starts, e.g. 100000",
    )
    ap.add_argument(
        "--ceiling",
        type=int,
        default=2000,
        help="GET /healthz requests for the harness ceiling before the create phase (0: skip)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the temp var dir (DB, gunicorn.log)")
    ap.add_argument("--out", default=None, help="also write the JSON to this file")
    args = ap.parse_args()
    # A SIGTERM (run.py's timeout) unwinds through run_bench's `finally`, which stops our gunicorn.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))
    res = run_bench(args)
    text = json.dumps(res, indent=2)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
