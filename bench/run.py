"""`make bench`: every casework benchmark in one run, optionally beside the peer (django-helpdesk).

    .venv/bin/python bench/run.py                 # N=2000, a few minutes
    .venv/bin/python bench/run.py --n 10000 --peer
    .venv/bin/python bench/run.py --only big --big 100000   # API create at 100,000 existing cases

Writes one JSON file, bench/results/results-<date>-<HHMM>.json: the machine, every figure, and — with
--peer — the peer harness's own JSON from the same invocation plus ratios. Then prints a summary table.

1. Micro-benchmarks: every bench/bench_*.py module with a `run() -> dict` (bench_api.py excepted), each in
   its own subprocess with a timeout and a fresh empty CASEWORK_VAR_DIR; a failure is recorded, not fatal.
2. HTTP benchmark: bench/bench_api.py (subprocess) with N cases.
3. With --big M: bench/bench_api.py again on an install seeded with M existing cases (bench/seed_cases.py),
   --big-n creates (1000) and the reads at that size.
4. With --peer: ../shared/bench/peer-django-helpdesk/bench.py with the same N, seed, threads and workers,
   right after ours (its venv is built with its setup.sh first when missing).

Ratios are "how many times better casework is": ours/peer for throughput, peer/ours for latency.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
PEER_DIR = ROOT.parent / "shared" / "bench" / "peer-django-helpdesk"
PEER_VENV = Path(os.environ.get("PEER_DH_VENV", "/tmp/peer-dh-venv"))
PEER_SITE = Path(os.environ.get("PEER_DH_SITE", "/tmp/peer-dh-site"))
MARK = "BENCH-RESULT-JSON:"
NOT_MICRO = {"bench_api"}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------------
# machine
# --------------------------------------------------------------------------------------------------


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def machine_info() -> dict:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
    }
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as fh:
            info["mem_total_gb"] = round(int(fh.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    status = _git("status", "--porcelain")
    info["git_commit"] = _git("rev-parse", "HEAD")
    info["git_dirty_files"] = len(status.splitlines()) if status is not None else None
    return info


def loadavg() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return None


# --------------------------------------------------------------------------------------------------
# runners
# --------------------------------------------------------------------------------------------------

MICRO_RUNNER = f"""
import json, sys
src = sys.argv[3] if len(sys.argv) > 3 else ""
sys.path[:0] = [p for p in (src, {str(ROOT)!r}, sys.argv[2]) if p]
if src:
    import casework  # bound from the other checkout before a module puts this repo first on sys.path
import importlib
result = importlib.import_module(sys.argv[1]).run()
print({MARK!r} + json.dumps(result, default=str))
"""


# Micro-benchmarks that build a big install themselves: their timeout is this many times --micro-timeout.
LONG_MICRO = {"bench_search": 8}  # its own 100,000 cases, then the peer seeded with as many
# bench_insights: 100,000 generated cases, their vectors, 50 lookups and the clustering job over all of them.
LONG_MICRO["bench_insights"] = 8


def run_micro(name: str, timeout: float, directory: Path = BENCH, src: str | None = None) -> dict:
    """One bench_*.py module's run() in a subprocess with its own empty var dir (it migrates if it needs
    a DB); with `src`, against that casework checkout."""
    with tempfile.TemporaryDirectory(prefix=f"casework-{name}-") as var_dir:
        env = dict(os.environ, CASEWORK_VAR_DIR=var_dir, DJANGO_SETTINGS_MODULE="casework.settings")
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    MICRO_RUNNER,
                    name,
                    str(directory),
                    *([str(Path(src).resolve())] if src else []),
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": f"timed out after {timeout:.0f} s"}
        wall = round(time.perf_counter() - t0, 1)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    if proc.returncode != 0 or not lines:
        return {"ok": False, "wall_s": wall, "returncode": proc.returncode, "error": proc.stderr[-3000:]}
    return {"ok": True, "wall_s": wall, "result": json.loads(lines[-1][len(MARK) :])}


def stream(cmd: list[str], cwd: Path, timeout: float) -> tuple[int | None, str]:
    """Run cmd, echo its stderr (progress) live and keep the tail for the record; stop it by PID on timeout.

    Returns (returncode or None on timeout, last lines of stderr)."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    fired = threading.Event()

    def stop() -> None:  # SIGTERM first so the child can stop its own gunicorn, then SIGKILL
        fired.set()
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()

    timer = threading.Timer(timeout, stop)
    timer.start()
    tail: collections.deque[str] = collections.deque(maxlen=40)
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            sys.stderr.write(line)
            tail.append(line)
        proc.wait()
    finally:
        timer.cancel()
    return (None if fired.is_set() else proc.returncode), "".join(tail)


def run_ours(args: argparse.Namespace, big: int = 0) -> dict:
    """bench_api.py in a subprocess: the N-case run, or with `big` the run on a seeded install (big-n
    creates, no ceiling: the N-case run measures it)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = Path(fh.name)
    cmd = [
        sys.executable,
        str(BENCH / "bench_api.py"),
        "--n", str(args.big_n if big else args.n),
        "--seed", str(args.seed),
        "--threads", str(args.threads),
        "--workers", str(args.workers),
        "--samples", str(args.samples),
        "--out", str(out),
    ]  # fmt: skip
    if args.src:
        cmd += ["--src", args.src]
    if big:
        cmd += ["--big", str(big), "--ceiling", "0"]
    else:
        cmd += ["--ceiling", str(args.ceiling)]
    try:
        code, tail = stream(cmd, ROOT, args.big_timeout if big else args.timeout)
        if code != 0 or out.stat().st_size == 0:
            limit = args.big_timeout if big else args.timeout
            what = f"timed out after {limit:.0f} s" if code is None else f"exited {code}"
            return {"ok": False, "error": f"bench_api.py {what}", "stderr_tail": tail}
        return {"ok": True, **json.loads(out.read_text())}
    finally:
        out.unlink(missing_ok=True)


def run_peer(args: argparse.Namespace) -> dict:
    python = PEER_VENV / "bin" / "python"
    if not (PEER_DIR / "bench.py").exists():
        return {"ok": False, "error": f"{PEER_DIR} not found"}
    t_setup = None
    if not python.exists() or not (PEER_SITE / "pristine.sqlite3").exists():
        # setup.sh (pinned PyPI installs, ~30 s) rebuilds the site each time, so run it only when needed.
        log(f"peer: building {PEER_VENV} and {PEER_SITE} with setup.sh")
        t0 = time.perf_counter()
        setup = subprocess.run(
            ["bash", str(PEER_DIR / "setup.sh")], capture_output=True, text=True, timeout=1200
        )
        t_setup = round(time.perf_counter() - t0, 1)
        if setup.returncode != 0:
            return {"ok": False, "error": "setup.sh failed:\n" + setup.stderr[-3000:]}
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as fh:
        out = Path(fh.name)
    cmd = [
        str(python),
        str(PEER_DIR / "bench.py"),
        "--n", str(args.peer_n or args.n),
        "--seed", str(args.seed),
        "--threads", str(args.threads),
        "--workers", str(args.workers),
        "--samples", str(args.samples),
        "--out", str(out),  # never write into ../shared
    ]  # fmt: skip
    if args.peer_skip:
        cmd += ["--skip", args.peer_skip]
    log("peer: " + " ".join(cmd[1:]))
    try:
        code, tail = stream(cmd, PEER_DIR, args.peer_timeout)
        if code != 0 or out.stat().st_size == 0:
            what = f"timed out after {args.peer_timeout:.0f} s" if code is None else f"exited {code}"
            return {"ok": False, "error": f"peer bench.py {what}", "stderr_tail": tail}
        return {"ok": True, "setup_s": t_setup, **json.loads(out.read_text())}
    finally:
        out.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------------------------------


def dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _ratio(a: Any, b: Any) -> float | None:
    if not isinstance(a, int | float) or not isinstance(b, int | float) or not b:
        return None
    return round(a / b, 2)


def comparison(ours: dict, peer: dict, micro: dict) -> list[dict]:
    """Rows of (measure, ours, peer, unit, ratio); ratio > 1 means casework is better."""
    rows: list[dict] = []

    def add(measure: str, mine: Any, theirs: Any, unit: str, higher_is_better: bool, note: str = "") -> None:
        if mine is None and theirs is None:
            return  # a part neither side ran (e.g. --only micro)
        ratio = _ratio(mine, theirs) if higher_is_better else _ratio(theirs, mine)
        rows.append(
            {"measure": measure, "casework": mine, "peer": theirs, "unit": unit, "ratio": ratio, "note": note}
        )

    share = dig(ours, "create_api", "pct_of_ceiling")
    add(
        "API create throughput",
        dig(ours, "create_api", "cases_per_s"),
        dig(peer, "create_api", "tickets_per_s"),
        "items/s",
        True,
        "ours: every reaction" + (f"; {share} % of the harness ceiling" if share is not None else ""),
    )
    ceiling = dig(ours, "ceiling", "requests_per_s")
    peer_create = dig(peer, "create_api", "tickets_per_s")
    add(
        "harness ceiling (GET /healthz, same client)",
        ceiling,
        None,
        "req/s",
        True,
        "the most any endpoint reaches here"
        + (f"; 10× the peer's create = {10 * peer_create:.0f}/s" if peer_create else ""),
    )
    add(
        "API create latency p95",
        dig(ours, "create_api", "latency", "p95_ms"),
        dig(peer, "create_api", "latency", "p95_ms"),
        "ms",
        False,
    )
    add(
        "server CPU per created item",
        dig(ours, "create_api", "server_cpu_ms_per_case"),
        dig(peer, "create_api", "server_cpu_ms_per_ticket"),
        "ms",
        False,
    )
    add(
        "API list first page p95",
        dig(ours, "list_api_first_page", "p95_ms"),
        dig(peer, "list_api_first_page", "p95_ms"),
        "ms",
        False,
    )
    add(
        "UI list page p95",
        dig(ours, "list_ui", "p95_ms"),
        dig(peer, "list_ui", "page_plus_data", "p95_ms"),
        "ms",
        False,
        "peer: HTML shell + DataTables JSON",
    )
    add("UI case page p95", dig(ours, "case_page", "p95_ms"), dig(peer, "detail_ui", "p95_ms"), "ms", False)
    add(
        "API case detail p95",
        dig(ours, "detail_api", "p95_ms"),
        dig(peer, "detail_api_token", "p95_ms"),
        "ms",
        False,
    )
    for term in ("printer", "zxqvault", "nosuchterm42"):
        mine = dig(ours, "search_ui", term)
        theirs = dig(peer, "search_ui", term)
        hits = f"hits {dig(mine, 'hits_reported')} vs {dig(theirs, 'hits_reported')}"
        add(
            f"UI search '{term}' p95",
            dig(mine, "p95_ms"),
            dig(theirs, "page_plus_data", "p95_ms"),
            "ms",
            False,
            hits,
        )
    intake = dig(micro, "bench_intake", "result")
    if intake is not None:
        # Ours runs in-process, so the peer's figure without its process start-up (~1 s per batch) is the
        # like-for-like one; with start-up it would flatter us.
        peer_intake = dig(peer, "email_intake", "msgs_per_s_excl_startup")
        add(
            "email intake with every reaction",
            dig(intake, "with_every_reaction", "msgs_per_s"),
            peer_intake,
            "msgs/s",
            True,
            "ours: ingest_many, 800 new + 200 replies, triage/routing/SLA/notify; "
            "peer: get_email excl. start-up",
        )
        add(
            "email intake alone (parse+thread+store)",
            dig(intake, "intake_alone", "msgs_per_s"),
            peer_intake,
            "msgs/s",
            True,
            "breakdown: ours with no reaction ("
            + ("pipeline.only()" if dig(intake, "intake_alone", "switch") == "pipeline" else "hooks detached")
            + "); the peer always runs its own",
        )
    return rows


# --------------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------------


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers, *[[_fmt(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def scale_section(scale: dict) -> list[str]:
    """bench_scale.py: the read paths and periodic jobs at N generated cases (issue 20)."""
    data = scale.get("bench_data", {})
    rows = [
        [name, f"{r.get('count')} samples", f"p50 {r.get('p50_ms')} ms", f"p95 {r.get('p95_ms')} ms",
         r.get("endpoint", "")]
        for name, r in scale["reads"].items()
    ]  # fmt: skip
    # Each job ran twice in one process: the first run (what fell due after the data was generated), then
    # the next (what every tick costs).
    jobs = ", ".join(
        f"{name} {dig(r, 'first', 's')}" + (f" → {dig(r, 'again', 's')}" if "again" in r else "") + " s"
        for name, r in (scale.get("jobs") or {}).items()
    )
    return [
        f"At {data.get('cases')} generated cases ({data.get('database')}; bench-data {data.get('seconds')} s,"
        f" {data.get('cases_per_s')} cases/s), gunicorn {dig(scale, 'params', 'workers')} workers",
        table(["measure", "samples", "p50", "p95", "endpoint"], rows),
        f"  periodic jobs: {jobs}",
    ]


def summary(res: dict) -> str:
    m = res["machine"]
    parts = [
        f"casework benchmarks — {res['started']}  N={res['params']['n']}"
        f"  ({m.get('cpus')} × {m.get('cpu_model', '?')}, Python {m['python']}, SQLite {m['sqlite']},"
        f" commit {(m.get('git_commit') or '?')[:10]}{'+dirty' if m.get('git_dirty_files') else ''})",
        f"load average (1/5/15 min) at start: {res.get('loadavg_start')}, after each part: "
        f"{res.get('loadavg_by_part')}",
    ]
    ours = res.get("api", {})
    if ours.get("ok"):
        c = ours["create_api"]
        rows = [
            ["API create", f"{c['cases_per_s']} cases/s", f"p50 {c['latency'].get('p50_ms')} ms",
             f"p95 {c['latency'].get('p95_ms')} ms", f"{c['server_cpu_ms_per_case']} ms CPU/case",
             f"{c['status_counts']}, client {c.get('client_cpu_ms_per_case')} ms CPU/case"
             + (f", {c['pct_of_ceiling']} % of ceiling" if c.get("pct_of_ceiling") is not None else "")],
        ]  # fmt: skip
        ceiling = ours.get("ceiling")
        if ceiling:
            rows.append(
                ["harness ceiling: GET /healthz", f"{ceiling['requests_per_s']} req/s",
                 f"p50 {ceiling['latency'].get('p50_ms')} ms", f"p95 {ceiling['latency'].get('p95_ms')} ms",
                 f"{ceiling['server_cpu_ms_per_request']} ms CPU/req",
                 f"client {ceiling['client_cpu_ms_per_request']} ms CPU/req, {ceiling['requests']} requests"]
            )  # fmt: skip
        for key, label in (
            ("list_api_first_page", "API list first page"),
            ("list_ui", "UI queue page"),
            ("case_page", "UI case page"),
            ("detail_api", "API case detail"),
        ):
            r = ours.get(key, {})
            extra = f"count {r['count_reported']}" if "count_reported" in r else ""
            rows.append([label, f"{r.get('count')} samples", f"p50 {r.get('p50_ms')} ms",
                         f"p95 {r.get('p95_ms')} ms", "", extra])  # fmt: skip
        for kind in ("search_api", "search_ui"):
            for term, r in ours.get(kind, {}).items():
                if isinstance(r, dict):
                    rows.append([f"{kind.replace('_', ' ')} '{term}'", f"{r.get('count')} samples",
                                 f"p50 {r.get('p50_ms')} ms", f"p95 {r.get('p95_ms')} ms", "",
                                 f"hits {r.get('hits_reported')}/{r.get('hits_expected_min')}"])  # fmt: skip
        parts += [
            "",
            "HTTP (4 client threads → gunicorn 2 sync workers, SQLite)",
            table(["measure", "rate/samples", "p50", "p95", "server CPU", "detail"], rows),
        ]
        seen = ours.get("reactions_seen")
        if seen:
            parts.append(reactions_line(seen))
        log_info = ours.get("server_log", {})
        if log_info.get("tracebacks"):
            parts.append(
                f"!! server log: {log_info['tracebacks']} tracebacks, e.g. {log_info.get('top_exceptions')}"
            )
    elif "api" in res:
        parts += ["", f"HTTP benchmark FAILED: {ours.get('error')}", (ours.get("stderr_tail") or "")[-1500:]]
    big = res.get("api_big")
    if big is not None:
        parts += ["", *big_section(big)]
    intake = dig(res, "micro", "bench_intake", "result")
    if intake and "with_every_reaction" in intake:
        full, alone = intake["with_every_reaction"], intake.get("intake_alone") or {}
        threading_ = full.get("threading", {})
        parts += [
            "",
            f"Email intake ({intake.get('messages')} mails: {intake.get('new_messages')} new + "
            f"{intake.get('reply_messages')} replies, ingest_many, batches of {intake.get('batch_size')})",
            f"  with every reaction: {full.get('msgs_per_s')} msgs/s, {full.get('ms_per_msg')} ms/msg,"
            f" {full.get('cpu_ms_per_msg')} ms CPU/msg; threaded {threading_.get('in_reply_to_threaded')}"
            f" by In-Reply-To, {threading_.get('subject_tag_threaded')} by subject tag",
            f"  intake alone:        {alone.get('msgs_per_s')} msgs/s, {alone.get('ms_per_msg')} ms/msg"
            f" ({alone.get('mechanism')})",
        ]
        if full.get("reactions_seen"):
            parts.append("  " + reactions_line(full["reactions_seen"]))
    statements = dig(res, "micro", "bench_statements", "result")
    if statements:
        parts += ["", *statements_section(statements)]
    scale = dig(res, "micro", "bench_scale", "result")
    if scale and scale.get("reads"):
        parts += ["", *scale_section(scale)]
    search = dig(res, "micro", "bench_search", "result")
    if search:
        parts += ["", *search_section(search)]
    quality = dig(res, "micro", "bench_triage_quality", "result")
    if quality and "report" in quality:
        sys.path.insert(0, str(BENCH))
        from bench_triage_quality import summary_lines

        parts += ["", *summary_lines(quality)]
    insights = dig(res, "micro", "bench_insights", "result")
    if insights:
        sys.path.insert(0, str(BENCH))
        from bench_insights import summary_lines as insights_lines

        parts += ["", "Insights (issue 15)", *insights_lines(insights)]
    latency = dig(res, "micro", "bench_triage_latency", "result")
    if latency and "classify" in latency:
        sys.path.insert(0, str(BENCH))
        from bench_triage_latency import summary_lines as latency_lines

        parts += ["", *latency_lines(latency)]
    micro_rows = []
    for name, r in res.get("micro", {}).items():
        if r.get("ok"):
            flat = json.dumps(r["result"], default=str)
            micro_rows.append([name, "ok", f"{r['wall_s']} s", flat[:110] + ("…" if len(flat) > 110 else "")])
        else:
            micro_rows.append(
                [name, "FAILED", f"{r.get('wall_s', '-')} s", (r.get("error") or "").strip()[-110:]]
            )
    if micro_rows:
        parts += ["", "Micro-benchmarks", table(["module", "status", "wall", "result"], micro_rows)]
    if res.get("peer"):
        if res.get("comparison"):
            rows = [
                [r["measure"], r["casework"], r["peer"], r["unit"], r["ratio"], r["note"]]
                for r in res["comparison"]
            ]
            version = dig(res["peer"], "versions", "django-helpdesk")
            title = f"casework vs django-helpdesk {version}, same run (× better > 1: casework is better)"
            parts += ["", title, table(["measure", "casework", "peer", "unit", "× better", "note"], rows)]
        elif res["peer"].get("ok"):
            parts += ["", "peer ran, but no comparison: our benchmarks failed"]
        else:
            parts += ["", f"peer FAILED: {res['peer'].get('error')}"]
    return "\n".join(parts)


def search_section(search: dict) -> list[str]:
    """bench_search: p95 per term, the rank cut before/after, and the side-by-side with the peer (its own
    paired run on the same N tickets)."""
    lines = [
        f"Search at {search.get('n')} cases ({search.get('database')}), p95 ms of the queue's search path"
    ]
    rows = [
        [name, q.get("q"), q.get("p95_ms"), dig(q, "hits", "count")]
        for name, q in search.get("queries", {}).items()
    ]
    lines.append(table(["term", "q", "p95 ms", "hits"], rows))
    cut = search.get("rank_every_match") or {}
    rows = [
        [name, dig(r, "every_match", "p95_ms"), dig(r, "cut", "p95_ms"), r.get("p95_speedup")]
        for name, r in cut.items()
        if isinstance(r, dict)
    ]
    if rows:
        lines += [f"rank cut at {cut.get('limit')} (before: every match ranked)"]
        lines.append(table(["term", "every match p95", "cut p95", "×"], rows))
    if search.get("comparison"):
        rows = [
            [r["measure"], r["q"], r["casework"], r["peer"], r["ratio_peer_over_casework"],
             f"hits {dig(r, 'hits', 'casework')} vs {dig(r, 'hits', 'peer')}"]
            for r in search["comparison"]
        ]  # fmt: skip
        lines += [
            f"vs django-helpdesk on the same {search.get('n')} tickets, same run (× > 1: casework faster)"
        ]
        lines.append(table(["measure", "q", "casework", "peer", "×", "note"], rows))
    elif search.get("peer"):
        lines.append(
            f"peer search: {search['peer'].get('skipped') or search['peer'].get('error', '')[-200:]}"
        )
    return lines


def reactions_line(seen: dict) -> str:
    """One line of proof that the reactions ran on the cases a run created."""
    return (
        f"reactions on the {seen.get('cases')} new cases: priority set by rules"
        f" {seen.get('priority_set_by_rules')}, rules matched {seen.get('rules_matched')},"
        f" triaged {seen.get('triaged')},"
        f" sentiment {seen.get('sentiment_scored')}, SLA clocks {seen.get('with_sla_clocks')},"
        f" tier history {seen.get('with_tier_history')}, assigned {seen.get('assigned')}"
        f" (to {seen.get('assignees')} agents), outbox rows {seen.get('outbox_rows')}"
    )


def big_section(big: dict) -> list[str]:
    if not big.get("ok"):
        return [f"big install FAILED: {big.get('error')}", (big.get("stderr_tail") or "")[-1500:]]
    seeding = big.get("seeding", {})
    c = big.get("create_api", {})
    lat = c.get("latency", {})
    rows = [
        ["seeding (case_open_many, batches of " + str(seeding.get("batch")) + ")",
         f"{seeding.get('cases_per_s')} cases/s", f"{seeding.get('cases_s')} s",
         f"{seeding.get('cpu_ms_per_case')} ms CPU/case", f"reactions: {seeding.get('reactions')}"],
        ["API create", f"{c.get('cases_per_s')} cases/s",
         f"p50 {lat.get('p50_ms')} / p95 {lat.get('p95_ms')} / p99 {lat.get('p99_ms')} ms",
         f"{c.get('server_cpu_ms_per_case')} ms CPU/case", f"{c.get('status_counts')}"],
    ]  # fmt: skip
    for key, label in (
        ("list_api_first_page", "API list first page"),
        ("list_ui", "UI queue page"),
        ("case_page", "UI case page"),
        ("detail_api", "API case detail"),
    ):
        r = big.get(key, {})
        extra = f"count {r['count_reported']}" if "count_reported" in r else ""
        rows.append([label, f"{r.get('count')} samples", f"p50 {r.get('p50_ms')} / p95 {r.get('p95_ms')} ms",
                     "", extra])  # fmt: skip
    lines = [
        f"At {dig(big, 'params', 'existing_cases')} existing cases (seeded through the case services), "
        f"{c.get('requested')} more created over HTTP",
        table(["measure", "rate/samples", "latency", "CPU", "detail"], rows),
    ]
    if big.get("reactions_seen"):
        lines.append(reactions_line(big["reactions_seen"]))
    return lines


def statements_section(st: dict) -> list[str]:
    """Statements and transactions per API create and per mail (bench_statements)."""
    api, intake = st.get("api_create", {}), st.get("intake", {})
    new = intake.get("new_mails", {})
    per_batch, per_mail = new.get("per_batch", {}), new.get("per_mail", {})
    single = intake.get("single_ingest_raw", {})

    def spread(d: dict | None) -> str:
        d = d or {}
        return f"{d.get('median')} / {d.get('p95')} / {d.get('max')}"

    rows = [
        ["API create (test Client, whole request)", spread(api.get("statements")),
         spread(api.get("transactions")), spread(api.get("savepoints")),
         f"{dig(api, 'cpu_ms_per_create', 'median')} ms"],
        [f"mail in a batch of {intake.get('batch_size')} (ingest_many), per mail",
         f"mean {per_mail.get('statements_mean')}", f"mean {per_mail.get('transactions_mean')}",
         f"mean {per_mail.get('savepoints_mean')}",
         f"{new.get('cpu_ms_per_mail')} ms"],
        [f"batch of {intake.get('batch_size')} mails (ingest_many)", spread(per_batch.get("statements")),
         spread(per_batch.get("transactions")), spread(per_batch.get("savepoints")), ""],
        ["one mail (ingest_raw)", spread(single.get("statements")), spread(single.get("transactions")),
         spread(single.get("savepoints")), f"{single.get('cpu_ms_per_mail')} ms"],
    ]  # fmt: skip
    lines = [
        f"Statements and transactions, every reaction ({st.get('reactions')}); median / p95 / max",
        table(["per", "statements", "transactions", "savepoints", "CPU"], rows),
        "API create by kind: "
        + ", ".join(f"{k} {v}" for k, v in (api.get("by_kind_per_item") or {}).items()),
        "API create commonest statements (per create):",
    ]
    for shape in (api.get("top_shapes_per_item") or [])[:10]:
        lines.append(f"  {shape['per_item']:>6}  {shape['sql'][:150]}")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="cases created over the API (default 2000)")
    ap.add_argument("--peer", action="store_true", help="also run the django-helpdesk harness, same N")
    ap.add_argument("--peer-n", type=int, default=None, help="peer N if it must differ (recorded; no ratios)")
    ap.add_argument("--peer-skip", default="", help="phases the peer skips, e.g. orm,form (see its --help)")
    ap.add_argument("--seed", type=int, default=20240501, help="data seed (the peer's default)")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--samples", type=int, default=50, help="sequential samples per read measure")
    ap.add_argument(
        "--src", default=None, help="bench another casework checkout (e.g. git archive HEAD unpacked)"
    )
    ap.add_argument(
        "--only", default="", help="comma list: micro,api,big (default micro,api, and big with --big)"
    )
    ap.add_argument(
        "--big", type=int, default=0, help="also API create + reads on an install seeded with this many cases"
    )
    ap.add_argument("--big-n", type=int, default=1000, help="cases created over HTTP in the --big run")
    ap.add_argument("--big-timeout", type=float, default=4 * 3600, help="seconds for the --big run")
    ap.add_argument(
        "--ceiling", type=int, default=2000, help="GET /healthz requests for the harness ceiling (0: skip)"
    )
    ap.add_argument("--micro", default="", help="comma list of micro-benchmarks to run (default: all)")
    ap.add_argument("--micro-timeout", type=float, default=300, help="seconds per micro-benchmark")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds for bench_api.py")
    ap.add_argument("--peer-timeout", type=float, default=3600, help="seconds for the peer harness")
    ap.add_argument(
        "--out", default=None, help="results file (default bench/results/results-<date>-<HHMM>.json)"
    )
    args = ap.parse_args()
    only = {s.strip() for s in args.only.split(",") if s.strip()} or {"micro", "api", "big"}
    if "big" in only and not args.big:
        only.discard("big")
        if args.only:
            ap.error("--only big needs --big N (how many existing cases to seed)")

    started = dt.datetime.now()
    res: dict[str, Any] = {
        "harness": "casework bench/run.py",
        "started": started.isoformat(timespec="seconds"),
        "machine": machine_info(),
        "loadavg_start": loadavg(),
        "params": {"n": args.n, "peer": args.peer, "peer_n": args.peer_n or args.n, "seed": args.seed,
                   "threads": args.threads, "workers": args.workers, "samples": args.samples,
                   "big": args.big or None, "big_n": args.big_n if args.big else None,
                   "ceiling_requests": args.ceiling, "src": args.src},
    }  # fmt: skip

    res["micro"] = {}
    if "micro" in only:
        names = sorted(p.stem for p in BENCH.glob("bench_*.py") if p.stem not in NOT_MICRO)
        if args.micro:
            wanted = {m.strip().removeprefix("bench_") for m in args.micro.split(",")}
            names = [n for n in names if n.removeprefix("bench_") in wanted]
        for name in names:
            log(f"micro: {name}")
            # bench_search seeds 100,000 cases itself: it gets longer than the others.
            limit = args.micro_timeout * LONG_MICRO.get(name, 1)
            res["micro"][name] = run_micro(name, limit, src=args.src)
            log(f"  -> {'ok' if res['micro'][name]['ok'] else 'FAILED'}")
    # The load average around each part shows which side ran on a busier machine (other processes count).
    res["loadavg_by_part"] = {"micro_end": loadavg()}
    if "api" in only:
        res["api"] = run_ours(args)
        res["loadavg_by_part"]["api_end"] = loadavg()
    if "big" in only:
        log(f"big: API create and reads at {args.big} existing cases")
        res["api_big"] = run_ours(args, big=args.big)
        res["loadavg_by_part"]["big_end"] = loadavg()
    if args.peer:
        # Right after ours, so both see the same machine state as far as a shared VM allows.
        res["peer"] = run_peer(args)
        res["loadavg_by_part"]["peer_end"] = loadavg()
        # Compared whenever the peer ran: rows for parts we skipped or that failed are left out.
        if res["peer"].get("ok"):
            same_n = (args.peer_n or args.n) == args.n
            ours = res.get("api", {}) if res.get("api", {}).get("ok") else {}
            rows = comparison(ours, res["peer"], res["micro"])
            res["comparison"] = rows if same_n else [dict(r, ratio=None) for r in rows]
            res["ratios"] = {r["measure"]: r["ratio"] for r in res["comparison"]}
    res["loadavg_end"] = loadavg()
    res["finished"] = dt.datetime.now().isoformat(timespec="seconds")
    res["total_runtime_s"] = round((dt.datetime.now() - started).total_seconds(), 1)

    RESULTS.mkdir(parents=True, exist_ok=True)
    out = Path(args.out) if args.out else RESULTS / f"results-{started.strftime('%Y-%m-%d-%H%M')}.json"
    out.write_text(json.dumps(res, indent=2, default=str) + "\n")
    print(summary(res))
    print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    failed = (
        not res.get("api", {"ok": True}).get("ok")
        or not res.get("api_big", {"ok": True}).get("ok")
        or (args.peer and not res["peer"].get("ok"))
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
