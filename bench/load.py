"""`make load`: 50 concurrent clients against gunicorn on loopback for 60 s, on SQLite and on PostgreSQL.

    .venv/bin/python bench/load.py                          # both databases (PostgreSQL: a throwaway cluster)
    .venv/bin/python bench/load.py --db sqlite --clients 5 --duration 5 --cases 200    # the smoke version

For each database:

1. A fresh install (bench_api.Install: migrate, static files, the bench agent — a manager, so it may work
   every team's cases — its token, the support team), then `casework bench-data --cases N`: two years of
   generated history, so lists, search and counters read a realistic table, not an empty one.
2. gunicorn (`--workers`, sync) on a free 127.0.0.1 port and one `casework worker` (tasks, the outbox, the
   scheduler) beside it, as in production.
3. `--clients` closed-loop clients (asyncio + httpx, one process, no think time) for `--duration` seconds.
   Four in five are API clients (Bearer token): list, view, search, create, reply, transition. The rest are
   agents in the web UI (signed in through the login form): the queue, a case page, a queue search.
   Writes go to cases the client opened itself, so two clients never race for one case's transition and
   every non-2xx answer is an error of the system, not of the test.
4. Errors (any non-2xx answer or transport failure, per route, with samples), throughput and p50/p95/max
   per route; the server's and the worker's logs scanned for tracebacks and `database is locked`.

The abuse limits stay on — every API request still counts in the rate-limit table, which is part of the
cost — but with a budget no client reaches (`LIMITS` below), so the figures measure the system, not the
limiter. The JSON (machine, load average, parameters, figures) goes to bench/results/load-<db>-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import bench_api  # noqa: E402  (bench/ on sys.path)
import run as bench_run  # noqa: E402

peer = bench_api.peer
RESULTS = BENCH / "results"

# Rate-limit budgets far above what the clients can reach (bench_api.LIMITS): nothing is refused.
LIMITS = bench_api.LIMITS
# Share of each action in an API client's loop, and in a web client's.
API_MIX = {"list": 20, "view": 25, "search": 15, "create": 10, "reply": 15, "transition": 15}
UI_MIX = {"ui_queue": 40, "ui_case": 40, "ui_search": 20}
SEARCH_TERMS = ("export", "login", "invoice", "report", "sync", "zxqvault")
# The next status for a case a client owns: it keeps its cases open, going back and forth.
NEXT_STATUS = {
    "new": "in_progress",
    "triaged": "in_progress",
    "in_progress": "awaiting_client",
    "awaiting_client": "in_progress",
}
ROUTES = {
    "list": "GET /api/v1/cases?limit=25[&view=open]",
    "view": "GET /api/v1/cases/<ref>",
    "search": "GET /api/v1/cases?q=<term>&limit=25",
    "create": "POST /api/v1/cases (every reaction)",
    "reply": "POST /api/v1/cases/<ref>/messages (public reply: an outbox mail)",
    "transition": "POST /api/v1/cases/<ref>/transitions",
    "ui_login": "POST /login/ (once per web client)",
    "ui_queue": "GET / (agent queue)",
    "ui_case": "GET /cases/<ref>/",
    "ui_search": "GET /?view=all&q=<term>",
}
LOG_PROBLEMS = re.compile(r"database is locked|deadlock detected|Traceback|WORKER TIMEOUT", re.I)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# the clients
# --------------------------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.samples: dict[str, list[tuple[float, float, Any]]] = defaultdict(list)  # (end, seconds, status)
        self.errors: dict[str, Counter] = defaultdict(Counter)
        self.error_samples: list[dict] = []

    def add(self, route: str, started: float, status: Any, body: str = "") -> None:
        end = time.perf_counter()
        self.samples[route].append((end, end - started, status))
        if not (isinstance(status, int) and 200 <= status < 300):
            self.errors[route][str(status)] += 1
            if len(self.error_samples) < 20:
                self.error_samples.append({"route": route, "status": status, "body": body[:300]})


class Client:
    """One closed-loop client: the next request starts when the previous answer arrived."""

    def __init__(self, index: int, base: str, token: str, refs: int, rec: Recorder, seed: int) -> None:
        self.index, self.base, self.token, self.refs, self.rec = index, base, token, refs, rec
        self.rng = random.Random(seed * 1000 + index)
        self.own: dict[str, str] = {}  # reference -> last seen status, of the cases this client opened
        self.made = 0

    def ref(self) -> str:
        return f"CW-{self.rng.randint(1, self.refs):06d}"

    async def call(self, http, route: str, method: str, url: str, **kw) -> Any:
        started = time.perf_counter()
        try:
            response = await http.request(method, url, **kw)
        except Exception as exc:  # transport failures are errors too: refused, reset, timed out
            self.rec.add(route, started, f"EXC:{type(exc).__name__}", str(exc))
            return None
        body = response.text if not 200 <= response.status_code < 300 else ""
        self.rec.add(route, started, response.status_code, body)
        return response

    async def create(self, http) -> None:
        self.made += 1
        payload = {
            "subject": f"Load {self.index}-{self.made}: the {self.rng.choice(SEARCH_TERMS[:5])} fails",
            "description": "Since this morning the export fails with error 500 for our whole team.",
            "customer_email": f"load-{self.index}-{self.rng.randint(1, 20)}@example.test",
        }
        r = await self.call(http, "create", "POST", "/api/v1/cases", json=payload)
        if r is not None and r.status_code == 201:
            data = r.json()
            self.own[data["reference"]] = data["status"]

    async def api_step(self, http, action: str) -> None:
        if action in {"reply", "transition"} and not self.own:
            action = "create"
        if action == "list":
            view = "&view=open" if self.rng.random() < 0.5 else ""
            await self.call(http, "list", "GET", f"/api/v1/cases?limit=25{view}")
        elif action == "view":
            await self.call(http, "view", "GET", f"/api/v1/cases/{self.ref()}")
        elif action == "search":
            await self.call(
                http, "search", "GET", f"/api/v1/cases?q={self.rng.choice(SEARCH_TERMS)}&limit=25"
            )
        elif action == "create":
            await self.create(http)
        elif action == "reply":
            ref = self.rng.choice(list(self.own))
            body = {"body": f"Thanks, we are looking into it ({self.index}-{self.rng.random():.6f})."}
            await self.call(http, "reply", "POST", f"/api/v1/cases/{ref}/messages", json=body)
        else:
            ref = self.rng.choice(list(self.own))
            # Look first, as an agent does (a reply or a rule may have moved the case since).
            seen = await self.call(http, "view", "GET", f"/api/v1/cases/{ref}")
            if seen is not None and seen.status_code == 200:
                self.own[ref] = seen.json()["status"]
            target = NEXT_STATUS.get(self.own[ref], "in_progress")
            body = {"to": target, "reason": "load test"}
            r = await self.call(http, "transition", "POST", f"/api/v1/cases/{ref}/transitions", json=body)
            if r is not None and r.status_code == 200:
                self.own[ref] = r.json()["status"]
            elif r is not None:
                self.own.pop(ref, None)  # do not keep hitting a case whose state we no longer know

    async def run_api(self, deadline: float) -> None:
        import httpx

        actions, weights = list(API_MIX), list(API_MIX.values())
        headers = {"Authorization": f"Bearer {self.token}"}
        async with httpx.AsyncClient(base_url=self.base, headers=headers, timeout=120) as http:
            while time.perf_counter() < deadline:
                await self.api_step(http, self.rng.choices(actions, weights)[0])

    async def run_ui(self, deadline: float) -> None:
        import httpx

        actions, weights = list(UI_MIX), list(UI_MIX.values())
        async with httpx.AsyncClient(base_url=self.base, timeout=120) as http:
            await http.get("/login/")
            form = {
                "username": bench_api.AGENT,
                "password": bench_api.AGENT_PASSWORD,
                "csrfmiddlewaretoken": http.cookies.get("csrftoken", ""),
                "next": "/",
            }
            started = time.perf_counter()
            r = await http.post("/login/", data=form, headers={"Referer": self.base + "/login/"})
            ok = r.status_code == 302 and "sessionid" in http.cookies
            self.rec.add("ui_login", started, 200 if ok else r.status_code, r.text if not ok else "")
            if not ok:
                return
            while time.perf_counter() < deadline:
                action = self.rng.choices(actions, weights)[0]
                if action == "ui_queue":
                    await self.call(http, action, "GET", "/")
                elif action == "ui_case":
                    await self.call(http, action, "GET", f"/cases/{self.ref()}/")
                else:
                    await self.call(http, action, "GET", f"/?view=all&q={self.rng.choice(SEARCH_TERMS)}")


async def drive(base: str, token: str, refs: int, clients: int, duration: float, seed: int) -> tuple:
    rec = Recorder()
    pool = [Client(i, base, token, refs, rec, seed) for i in range(clients)]
    started = time.perf_counter()
    deadline = started + duration
    # Every fifth client is an agent in the browser; the others speak the API.
    await asyncio.gather(
        *(c.run_ui(deadline) if i % 5 == 4 else c.run_api(deadline) for i, c in enumerate(pool))
    )
    return rec, started, time.perf_counter() - started


def summarise(rec: Recorder, started: float, wall: float, duration: float) -> dict:
    routes: dict[str, Any] = {}
    total = errors = 0
    for route, samples in sorted(rec.samples.items()):
        ok = [s for _, s, status in samples if isinstance(status, int) and 200 <= status < 300]
        lat = peer.lat_summary(ok) if ok else {}
        in_window = sum(1 for end, _, _ in samples if end - started <= duration)
        routes[route] = {
            "endpoint": ROUTES.get(route, route),
            "requests": len(samples),
            "ok": len(ok),
            "errors": sum(rec.errors[route].values()),
            "error_statuses": dict(rec.errors[route]),
            "per_s": round(in_window / duration, 2),
            "p50_ms": lat.get("p50_ms"),
            "p95_ms": lat.get("p95_ms"),
            "max_ms": lat.get("max_ms"),
        }
        total += len(samples)
        errors += routes[route]["errors"]
    return {
        "requests": total,
        "errors": errors,
        "requests_per_s": round(total / wall, 1) if wall else None,
        "wall_s": round(wall, 1),
        "routes": routes,
        "error_samples": rec.error_samples,
    }


# --------------------------------------------------------------------------------------------------
# one database
# --------------------------------------------------------------------------------------------------

MANAGER_SOURCE = (
    "from casework.people.models import AgentProfile\n"
    f"AgentProfile.objects.filter(user__username={bench_api.AGENT!r}).update(role='manager')\n"
)

ROWS_SOURCE = """
import json
from django.db import connection
out = {}
with connection.cursor() as c:
    for table in ("cases_case", "cases_caseevent", "cases_message", "sla_caseclock", "notify_outbox",
                  "django_tasks_database_dbtaskresult"):
        try:
            c.execute(f"SELECT COUNT(*) FROM {table}")
            out[table] = c.fetchone()[0]
        except Exception as exc:
            out[table] = str(exc)[:100]
    c.execute("SELECT status, COUNT(*) FROM notify_outbox GROUP BY status")
    out["outbox_by_status"] = dict(c.fetchall())
print("ROWS-JSON:" + json.dumps(out))
"""


def warm_up(base: str, token: str, workers: int) -> None:
    """A few unrecorded reads, so every gunicorn worker has imported the app before the clock starts."""
    import httpx

    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
        for _ in range(3 * workers):
            http.get("/api/v1/cases?limit=5")


def scan_log(path: Path) -> dict:
    text = path.read_text("utf-8", "replace") if path.exists() else ""
    found = Counter(m.group(0).lower() for m in LOG_PROBLEMS.finditer(text))
    return {
        "database_is_locked": found["database is locked"],
        "deadlocks": found["deadlock detected"],
        "tracebacks": found["traceback"],
        "worker_timeouts": found["worker timeout"],
        "exception_samples": sorted({m.group(0)[:200] for m in bench_api.EXC_LINE_RE.finditer(text)})[:5],
    }


def run_one(args: argparse.Namespace, database: str, database_url: str | None) -> dict:
    var_dir = Path(tempfile.mkdtemp(prefix=f"casework-load-{database}-"))
    install = bench_api.Install(var_dir)
    install.env.update(LIMITS)
    if database_url:
        install.env["DATABASE_URL"] = database_url
    result: dict[str, Any] = {
        "harness": "casework bench/load.py",
        "database": database,
        "started_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": bench_run.machine_info(),
        "load_before": bench_run.loadavg(),
        "params": {
            "clients": args.clients,
            "web_clients": args.clients // 5,
            "duration_s": args.duration,
            "cases_seeded": args.cases,
            "gunicorn_workers": args.workers,
            "gunicorn_worker_class": "sync",
            "casework_worker": not args.no_worker,
            "api_mix": API_MIX,
            "web_mix": UI_MIX,
            "rate_limits": LIMITS,
            "client": "asyncio + httpx, one process, closed loop, no think time",
        },
    }
    log(f"[{database}] install in {var_dir}")
    token, _ = install.prepare(capacity=100000)
    install.manage("shell", "--no-imports", "-c", MANAGER_SOURCE)
    t0 = time.perf_counter()
    out = install.manage("bench-data", "--cases", str(args.cases), "--json", "--no-progress", timeout=7200)
    result["bench_data"] = json.loads(out[out.index("{") :])
    result["bench_data"]["wall_s"] = round(time.perf_counter() - t0, 1)
    log(f"[{database}] {args.cases} generated cases in {result['bench_data']['wall_s']} s")
    server = bench_api.Server(install, args.workers)
    worker_log = var_dir / "worker.log"
    worker = None
    try:
        server.start()
        if not args.no_worker:
            with worker_log.open("ab") as sink:
                worker = subprocess.Popen(
                    [str(bench_api.BIN / "casework"), "worker"],
                    env=install.env,
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
        warm_up(server.base, token, args.workers)
        log(f"[{database}] {args.clients} clients for {args.duration} s")
        cpu0 = peer.cpu_seconds(server.pids())
        rec, started, wall = asyncio.run(
            drive(server.base, token, args.cases, args.clients, args.duration, args.seed)
        )
        result["server_cpu_s"] = round(peer.cpu_seconds(server.pids()) - cpu0, 1)
        result["load"] = summarise(rec, started, wall, args.duration)
    finally:
        server.stop()
        if worker is not None:
            from casework.testing.processes import stop_worker

            result["worker_exit"] = stop_worker(worker)
    result["server_log"] = scan_log(server.log_path)
    result["worker_log"] = scan_log(worker_log)
    rows = install.manage("shell", "--no-imports", "-c", ROWS_SOURCE)
    result["rows_after"] = json.loads(
        next(ln for ln in rows.splitlines() if ln.startswith("ROWS-JSON:"))[10:]
    )
    result["load_after"] = bench_run.loadavg()
    result["problems"] = (
        result["load"]["errors"]
        + result["server_log"]["database_is_locked"]
        + result["server_log"]["tracebacks"]
        + result["worker_log"]["database_is_locked"]
        + result["worker_log"]["tracebacks"]
    )
    if args.keep:
        result["var_dir"] = str(var_dir)
    else:
        import shutil

        shutil.rmtree(var_dir, ignore_errors=True)
    return result


def print_table(result: dict) -> None:
    load = result["load"]
    web, work = result["server_log"], result["worker_log"]
    print(
        f"\n{result['database']}: {result['params']['clients']} clients, {load['wall_s']} s, "
        f"{load['requests']} requests ({load['requests_per_s']}/s), errors {load['errors']}, "
        f"database is locked {web['database_is_locked'] + work['database_is_locked']}, "
        f"tracebacks {web['tracebacks']} (web) {work['tracebacks']} (worker), "
        f"load {result['load_before']} -> {result['load_after']}"
    )
    head = ("route", "requests", "errors", "per s", "p50 ms", "p95 ms", "max ms")
    print("  {:<12} {:>8} {:>6} {:>7} {:>8} {:>8} {:>8}".format(*head))
    for route, r in load["routes"].items():
        print(
            f"  {route:<12} {r['requests']:>8} {r['errors']:>6} {r['per_s']:>7} "
            f"{r['p50_ms'] or '-':>8} {r['p95_ms'] or '-':>8} {r['max_ms'] or '-':>8}"
        )
    for sample in load["error_samples"][:5]:
        print(f"  error: {sample}")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    p.add_argument("--database-url", help="an existing PostgreSQL database instead of a throwaway cluster")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--cases", type=int, default=5000, help="generated cases before the run (bench-data)")
    p.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    p.add_argument("--seed", type=int, default=17)
    p.add_argument("--no-worker", action="store_true", help="no `casework worker` beside the server")
    p.add_argument("--keep", action="store_true", help="keep the install's directory (DB, logs)")
    p.add_argument("--out-dir", default=str(RESULTS), help="where the JSON goes ('' for nowhere)")
    args = p.parse_args(argv)
    stamp = time.strftime("%Y-%m-%d-%H%M")
    results = []
    for database in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        with contextlib.ExitStack() as stack:
            url = None
            if database == "postgres":
                url = args.database_url
                if not url:
                    from casework.testing.services import postgres_cluster

                    url = stack.enter_context(postgres_cluster()).url
            result = run_one(args, database, url)
        print_table(result)
        if args.out_dir:
            path = Path(args.out_dir) / f"load-{database}-{stamp}.json"
            path.write_text(json.dumps(result, indent=2, default=str) + "\n")
            log(f"wrote {path}")
        results.append(result)
    return results


if __name__ == "__main__":
    results = main()
    sys.exit(1 if any(r["problems"] for r in results) else 0)
