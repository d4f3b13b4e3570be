"""Read paths at scale (issue 20): the same install with N generated cases, on SQLite or PostgreSQL.

    .venv/bin/python bench/bench_scale.py --cases 100000                    # SQLite in a temp dir
    .venv/bin/python bench/bench_scale.py --cases 100000 --postgres         # a throwaway PostgreSQL cluster
    .venv/bin/python bench/bench_scale.py --reuse /tmp/dir --src /tmp/old   # another checkout, same data

1. A fresh install (bench_api.Install: migrate, static files, the bench agent and its token, the team),
   then `casework bench-data --cases N` (two years of generated history, bulk inserts): its time and rows.
2. gunicorn (`--workers`, sync, DEBUG off) on a free loopback port, then sequential requests, each at most
   `--samples` times or `--cap` seconds, nearest-rank p50/p95 (the peer harness's statistics):
   case page, API detail, API create, API PATCH, the agent queue (default, ?assignee=, ?sort=priority),
   the API list (first page, open by priority, one agent's), and the sidebar-heavy views.
3. The periodic jobs in one process: an SLA sweep pass and the untriaged alerts, timed.

`--reuse DIR` keeps (or reuses) the install in DIR, so a second run — e.g. the code before a change,
with `--src` pointing at an exported commit — reads the very same data. The JSON goes to stdout and
`--out`. As a micro-benchmark (`run()`, for `make bench`) it runs 10,000 cases on SQLite.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import bench_api  # noqa: E402  (bench/ on sys.path; imports the peer harness for its statistics)

peer = bench_api.peer
log = bench_api.log

JOBS_SOURCE = r"""
import json, re, time
DRAIN_MAX, DRAIN_SECONDS = 100, 300
# Batch jobs whose second run still has a backlog: run until a run does nothing, then time a run at rest.
DRAIN = ("notify-critical-updates", "notify-resolved-autoclose", "notify-awaiting-client", "sla-sweep")
from casework.core import scheduler
# Every registered periodic job (the worker's schedule), twice each: the first run does the backlog the
# generated history leaves (breaches to record, alerts to send), the second what a tick costs at rest.
# Slow-by-nature daily jobs last, so a timeout still leaves the others' figures; each line is printed
# as soon as it is known.
LAST = ("doctor", "triage-retrain", "retention-policies", "insights-cluster")
jobs = sorted(scheduler.jobs(), key=lambda j: (j.name in LAST, j.name))
# What `casework worker` does at start, before it claims work (core/workers.WARM_IMPORTS): its own line.
from casework.core.workers import warm_imports
t0 = time.perf_counter(); c0 = time.process_time()
warm_imports()
print("JOB-JSON:" + json.dumps({"job": "(worker start: warm imports)", "run": "first",
      "s": round(time.perf_counter() - t0, 3), "cpu_s": round(time.process_time() - c0, 3)}), flush=True)
def timed(job, run):
    t0 = time.perf_counter(); c0 = time.process_time()
    try:
        result = str(job.func())[:200]
    except Exception as exc:  # a job that fails here is a finding, not the end of the bench
        result = "ERROR " + repr(exc)[:200]
    line = {"job": job.name, "run": run, "s": round(time.perf_counter() - t0, 3),
            "cpu_s": round(time.process_time() - c0, 3), "every_s": job.every.total_seconds(),
            "result": result}
    print("JOB-JSON:" + json.dumps(line), flush=True)
    return line

def at_rest(result):
    # A run that did nothing: every number in its result is 0 (or it has none).
    return all(n == "0" for n in re.findall(r"\d+", result.split("(", 1)[-1]))

for job in jobs:
    timed(job, "first")
    again = timed(job, "again")
    # A backlog the generated history leaves (e.g. 2 years of critical cases never updated) is drained
    # in batches, then one more run is what a tick costs at rest — each figure in the JSON.
    drained, t0, c0 = 0, time.perf_counter(), time.process_time()
    last = again
    while (job.name in DRAIN and not at_rest(last["result"]) and drained < DRAIN_MAX
           and time.perf_counter() - t0 < DRAIN_SECONDS and not last["result"].startswith("ERROR")):
        drained += 1
        try:
            last = {"result": str(job.func())[:200]}
        except Exception as exc:
            last = {"result": "ERROR " + repr(exc)[:200]}
    if drained:
        print("JOB-JSON:" + json.dumps({"job": job.name, "run": "drain", "runs": drained,
              "s": round(time.perf_counter() - t0, 3), "cpu_s": round(time.process_time() - c0, 3),
              "result": last["result"]}), flush=True)
        timed(job, "rest")
"""


def _install(args: argparse.Namespace) -> tuple[bench_api.Install, dict, bool]:
    """The install (made, or reused from --reuse) and whether it was made now."""
    var_dir = Path(args.reuse) if args.reuse else Path(tempfile.mkdtemp(prefix="casework-scale-"))
    var_dir.mkdir(parents=True, exist_ok=True)
    install = bench_api.Install(var_dir, Path(args.src).resolve() if args.src else bench_api.ROOT)
    if args.database_url:
        install.env["DATABASE_URL"] = args.database_url
    marker = var_dir / "bench-data.json"
    if marker.exists():
        _api_agent_in_every_team(install)
        token = (var_dir / "token").read_text().strip()
        return install, json.loads(marker.read_text()), False
    token, _ = install.prepare(capacity=40)
    (var_dir / "token").write_text(token)
    log(f"bench-data --cases {args.cases} ({'PostgreSQL' if args.database_url else 'SQLite'})")
    t0 = time.perf_counter()
    out = install.manage("bench-data", "--cases", str(args.cases), "--json", "--no-progress", timeout=7200)
    generated = json.loads(out[out.index("{") :])
    generated["wall_s_incl_process"] = round(time.perf_counter() - t0, 1)
    marker.write_text(json.dumps(generated))
    _api_agent_in_every_team(install)
    return install, generated, True


def _api_agent_in_every_team(install: bench_api.Install) -> None:
    """The API client stands for an integration working every team's queue: without a team, an agent
    may read other teams' cases but not change them, and every PATCH would be a 403 (idempotent)."""
    install.manage(
        "shell",
        "--no-imports",
        "-c",
        "from casework.people.models import AgentProfile, Team\n"
        f"p = AgentProfile.objects.get(user__username={bench_api.AGENT!r})\n"
        "p.teams.add(*Team.objects.all())\n",
    )


def _refs(n: int, rng: random.Random, k: int = 200) -> list[str]:
    # A fresh install numbers its cases from 1: the generated ones are CW-000001 … CW-<n>.
    return [f"CW-{rng.randint(1, n):06d}" for _ in range(k)]


def _postmaster_pid(database_url: str | None) -> int | None:
    """The PostgreSQL server's pid (its backends are its children), when it runs on this machine and its
    data directory is readable: their CPU time is the database's share of each request."""
    if not database_url:
        return None
    try:
        import psycopg

        with psycopg.connect(database_url) as conn:
            data_dir = conn.execute("SHOW data_directory").fetchone()[0]
        return int(Path(data_dir, "postmaster.pid").read_text().split()[0])
    except Exception:
        return None


def measure(args: argparse.Namespace, install: bench_api.Install, token: str, n: int) -> dict:
    import requests

    rng = random.Random(args.seed)
    refs = _refs(n, rng)
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {token}"
    ui = bench_api.ui_login(base := args.base)
    out: dict[str, Any] = {}

    def timed(session, method: str, url: str, ok_codes=(200,), **kw):
        def once():
            t0 = time.perf_counter()
            r = session.request(method, url, timeout=300, **kw)
            return time.perf_counter() - t0, r.status_code in ok_codes, r.status_code

        return once

    postmaster = _postmaster_pid(args.database_url)

    def sample(name: str, fn, endpoint: str) -> None:
        # CPU seconds of the gunicorn tree (and of the PostgreSQL backends, other databases of the same
        # cluster included) over the loop, per request: what a request costs on a machine whose other
        # users make wall-clock percentiles noisy.
        log(f"  {name}: {endpoint}")
        server_pids = args.server.pids()
        web0 = peer.cpu_seconds(server_pids)
        db0 = peer.cpu_seconds(peer.proc_tree(postmaster)) if postmaster else None
        load0 = os.getloadavg()[0]
        res, codes = peer.sample_loop(fn, args.samples, args.cap, warmup=2)
        requests_made = res.get("count", 0) + 2
        res["server_cpu_ms_per_request"] = round(
            (peer.cpu_seconds(server_pids) - web0) * 1000 / requests_made, 1
        )
        if db0 is not None:
            res["db_cpu_ms_per_request"] = round(
                (peer.cpu_seconds(peer.proc_tree(postmaster)) - db0) * 1000 / requests_made, 1
            )
        res["load_1m"] = [round(load0, 1), round(os.getloadavg()[0], 1)]
        res["endpoint"] = endpoint
        res["status_codes"] = sorted(set(codes))
        out[name] = res

    agent = "bench-agent-0001"
    sample("case_page", lambda: timed(ui, "GET", f"{base}/cases/{rng.choice(refs)}/")(), "GET /cases/<ref>/")
    sample(
        "case_page_typed_ref",
        lambda: timed(ui, "GET", f"{base}/cases/{rng.choice(refs).lower()}/")(),
        "GET /cases/<ref lower-case>/",
    )
    sample(
        "detail_api",
        lambda: timed(api, "GET", f"{base}/api/v1/cases/{rng.choice(refs)}")(),
        "GET /api/v1/cases/<ref>",
    )
    counter = iter(range(10**9))
    sample(
        "create_api",
        lambda: timed(
            api,
            "POST",
            f"{base}/api/v1/cases",
            ok_codes=(201,),
            json={
                "subject": f"Printer jams on tray {next(counter)}",
                "description": "The printer in room 4 jams on every job since this morning.",
                "customer_email": f"bench-create-{rng.randint(1, 500)}@example.test",
            },
        )(),
        "POST /api/v1/cases (every reaction)",
    )
    sample(
        "patch_api",
        lambda: timed(
            api,
            "PATCH",
            f"{base}/api/v1/cases/{rng.choice(refs)}",
            json={"priority": rng.choice(["high", "medium", "low"]), "reason": "bench"},
        )(),
        "PATCH /api/v1/cases/<ref> (priority)",
    )
    sample("queue_page", lambda: timed(ui, "GET", f"{base}/")(), "GET / (open cases, counters)")
    sample(
        "queue_assignee", lambda: timed(ui, "GET", f"{base}/?assignee={agent}")(), "GET /?assignee=<agent>"
    )
    sample("queue_priority", lambda: timed(ui, "GET", f"{base}/?sort=priority")(), "GET /?sort=priority")
    sample("queue_breached", lambda: timed(ui, "GET", f"{base}/?view=breached")(), "GET /?view=breached")
    sample(
        "list_api", lambda: timed(api, "GET", f"{base}/api/v1/cases?limit=25")(), "GET /api/v1/cases?limit=25"
    )
    sample(
        "list_api_open_priority",
        lambda: timed(api, "GET", f"{base}/api/v1/cases?view=open&ordering=priority&limit=25")(),
        "GET /api/v1/cases?view=open&ordering=priority&limit=25",
    )
    sample(
        "list_api_assignee",
        lambda: timed(api, "GET", f"{base}/api/v1/cases?view=open&assignee={agent}&limit=25")(),
        "GET /api/v1/cases?view=open&assignee=<agent>&limit=25",
    )
    # A deep page (half-way through every case, newest first): by offset, every row before it is walked;
    # by cursor (casework/cases/keyset.py) the page is one index range. The cursor is taken once.
    depth = max(1, n // 2)
    deep = f"{base}/api/v1/cases?limit=25"
    sample(
        "list_api_deep_offset",
        lambda: timed(api, "GET", f"{deep}&offset={depth}")(),
        f"GET /api/v1/cases?limit=25&offset={depth}",
    )
    first = api.get(f"{base}/api/v1/cases?limit=1&offset={depth - 1}", timeout=300)
    cursor = first.json().get("next_cursor") if first.ok else None
    if cursor:
        sample(
            "list_api_deep_cursor",
            lambda: timed(api, "GET", f"{deep}&cursor={cursor}")(),
            f"GET /api/v1/cases?limit=25&cursor=<after case {depth}>",
        )
    ui.close()
    api.close()
    return out


def jobs(install: bench_api.Install, timeout: float = 900) -> dict:
    """Every periodic job, twice, in one process: {job: {first: …, again: …}} (seconds, CPU seconds)."""
    import subprocess

    log("  periodic jobs: every registered job, twice")
    cmd = [str(bench_api.BIN / "casework"), "shell", "--no-imports", "-c", JOBS_SOURCE]
    try:
        done = subprocess.run(
            cmd, cwd=install.src, env=install.env, capture_output=True, text=True, timeout=timeout
        )
        out, note = done.stdout, ("" if done.returncode == 0 else done.stderr[-500:])
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        note = f"timed out after {timeout} s"
    result: dict[str, Any] = {}
    for ln in out.splitlines():
        if ln.startswith("JOB-JSON:"):
            row = json.loads(ln[len("JOB-JSON:") :])
            result.setdefault(row.pop("job"), {})[row.pop("run")] = row
    if note:
        result["_note"] = note
    return result


def run_scale(args: argparse.Namespace) -> dict:
    started = time.time()
    result: dict[str, Any] = {
        "params": {k: v for k, v in vars(args).items() if k not in ("database_url", "server", "base")}
    }
    result["params"]["database"] = "postgresql" if args.database_url else "sqlite"
    result["load_before"] = os.getloadavg()
    install, generated, made = _install(args)
    result["bench_data"] = generated
    result["bench_data_generated_now"] = made
    result["reads"] = {}
    if not args.no_reads:
        server = bench_api.Server(install, args.workers)
        server.start()
        args.base = server.base
        args.server = server
        try:
            token = (install.var_dir / "token").read_text().strip()
            result["reads"] = measure(args, install, token, generated["cases"])
        finally:
            server.stop()
        result["server_log"] = server.log_summary()
    if not args.no_jobs:
        result["jobs"] = jobs(install)
    result["load_after"] = os.getloadavg()
    result["wall_s"] = round(time.time() - started, 1)
    result["summary_ms"] = {
        name: {
            "p50": r.get("p50_ms"),
            "p95": r.get("p95_ms"),
            "server_cpu": r.get("server_cpu_ms_per_request"),
            "db_cpu": r.get("db_cpu_ms_per_request"),
        }
        for name, r in result["reads"].items()
    }
    return result


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", type=int, default=10_000)
    p.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    p.add_argument("--samples", type=int, default=40)
    p.add_argument("--cap", type=float, default=45.0, help="seconds at most per measure")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--reuse", help="install directory to make or reuse (keeps the generated data)")
    p.add_argument("--src", help="another casework checkout to serve (e.g. the commit before a change)")
    p.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL cluster for the run")
    p.add_argument("--database-url", help="an existing database instead of SQLite")
    p.add_argument("--no-jobs", action="store_true")
    p.add_argument("--no-reads", action="store_true", help="only the periodic jobs")
    p.add_argument("--out", help="also write the JSON here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    with contextlib.ExitStack() as stack:
        if args.postgres and not args.database_url:
            from casework.testing.services import postgres_cluster

            cluster = stack.enter_context(postgres_cluster())
            args.database_url = cluster.url
        result = run_scale(args)
    text = json.dumps(result, indent=2, default=str)
    if args.out:
        Path(args.out).write_text(text)
    return result


def run() -> dict:
    """`make bench` micro-benchmark: 10,000 generated cases on SQLite."""
    return main(
        ["--cases", os.environ.get("CASEWORK_BENCH_SCALE_CASES", "10000"), "--samples", "20", "--cap", "20"]
    )


if __name__ == "__main__":
    print(json.dumps(main(), indent=2, default=str))
