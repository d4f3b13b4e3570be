"""Insights: duplicate detection quality on real labelled reports, and its cost at 100,000 cases.

1. Quality on the Apache Hadoop bug reports in ``../shared/data/bugreports/hadoop/`` (2,503 reports, the
   labelled duplicate pairs; read where they lie). The duplicate groups are split in two by a hash of
   their smallest id (`insights.evaluation`): thresholds are chosen on the *tune* half, figures reported
   on the *test* half (and both, for the size of the noise). Retrieval: recall@1/@5/@10 of a labelled
   partner among all other reports, for
     - ``before``: TF-IDF fitted on the compared reports at query time (the method until stored vectors);
     - ``stored``: the production path — an IDF snapshot, stored hashed vectors, the short-vector inverted
       index giving 200 candidates, the exact rerank (`evaluation.score_all_stored`).
   Detection (stored path) at the shipped threshold and at the one the tune half picks for precision ≥ 0.6.
2. Scale (`CASEWORK_BENCH_INSIGHTS_N`, 100,000): a fresh install filled by ``casework bench-data --cases N``
   (or reused from ``CASEWORK_BENCH_INSIGHTS_DIR``), then in this process:
     - the vectorise backfill of all N cases (the `insights-vectorise` job without a time budget);
     - the index load of a fresh worker;
     - duplicate lookup for a new case: the whole `find_duplicates` task (vectorise the new case, bring
       the index up to date, search, rerank, write suggestions) for 50 new cases opened through the door,
       p50/p95 — 25 repeating a generated case in other words, 25 long Hadoop reports;
     - the clustering job over all N cases (a catch-up: `cluster_recent(since=the oldest case)`).
   Each with wall and CPU time (this process: SQLite runs inside it) and the load average, since other
   work shares the machine's cores.

Run: ``.venv/bin/python bench/bench_insights.py`` (prints the report); `make bench` runs it too.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casework.settings")

SHIPPED_THRESHOLD = 0.35
N = int(os.environ.get("CASEWORK_BENCH_INSIGHTS_N", "100000"))
LOOKUPS = int(os.environ.get("CASEWORK_BENCH_INSIGHTS_LOOKUPS", "50"))


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


class Timer:
    def __enter__(self):
        self.load_before = _load()
        self.wall0, self.cpu0 = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall0
        self.cpu = time.process_time() - self.cpu0
        self.load_after = _load()

    def as_dict(self) -> dict:
        return {
            "wall_s": round(self.wall, 2),
            "cpu_s": round(self.cpu, 2),
            "load_before": self.load_before,
            "load_after": self.load_after,
        }


def _recalls(ev, parts, scored) -> dict:
    out = {}
    for name, part in (("tune", parts["tune"]), ("test", parts["test"]), ("all", scored)):
        out[name] = {
            "duplicates": sum(1 for s in part if s.is_duplicate),
            **{f"recall@{k}": round(ev.recall_at(part, k), 3) for k in (1, 5, 10)},
        }
    return out


def quality() -> dict:
    from casework.insights import evaluation as ev

    data = ev.load()
    out: dict = {"reports": len(data.docs), "duplicate_reports": len(data.partners)}
    with Timer() as t:
        before = ev.score_all(data)
    out["before"] = {**_recalls(ev, ev.split(data, before), before), "time": t.as_dict()}
    with Timer() as t:
        stored = ev.score_all_stored(data)
    parts = ev.split(data, stored)
    out["stored"] = {**_recalls(ev, parts, stored), "time": t.as_dict()}
    chosen = ev.best_threshold(parts["tune"], min_precision=0.6)
    for label, threshold in (("shipped", SHIPPED_THRESHOLD), ("tuned_p60", chosen)):
        row = {"threshold": threshold}
        for name in ("tune", "test"):
            precision, recall, alarms = ev.detection(parts[name], threshold)
            row[name] = {
                "precision": round(precision, 3),
                "recall": round(recall, 3),
                "false_alarms": round(alarms, 3),
            }
        out[f"detection_{label}"] = row
    return out


def _manage(var_dir: str, *args: str, timeout: float = 3600) -> str:
    env = dict(os.environ, CASEWORK_VAR_DIR=var_dir, DJANGO_SETTINGS_MODULE="casework.settings")
    env.pop("DATABASE_URL", None)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )
    return proc.stdout


def _prepare(n: int) -> tuple[str, dict]:
    """The install with n generated cases: reused (CASEWORK_BENCH_INSIGHTS_DIR) or made now."""
    var_dir = os.environ.get("CASEWORK_BENCH_INSIGHTS_DIR") or os.environ.get("CASEWORK_VAR_DIR")
    var_dir = var_dir or tempfile.mkdtemp(prefix="casework-insights-")
    Path(var_dir).mkdir(parents=True, exist_ok=True)
    _manage(var_dir, "migrate", "--noinput")
    marker = Path(var_dir) / "bench-insights-data.json"
    if marker.exists():
        return var_dir, {**json.loads(marker.read_text()), "reused": True}
    with Timer() as t:
        out = _manage(var_dir, "bench-data", "--cases", str(n), "--json", "--no-progress", timeout=7200)
    generated = json.loads(out[out.index("{") :])
    info = {"cases": generated.get("cases"), "bench_data": t.as_dict()}
    marker.write_text(json.dumps(info))
    return var_dir, info


def scale(n: int = N) -> dict:
    var_dir, info = _prepare(n)
    os.environ["CASEWORK_VAR_DIR"] = var_dir
    import django

    django.setup()
    from casework.cases.models import Case
    from casework.insights import clustering, duplicates, evaluation, vectorising
    from casework.insights.models import CaseVector, ClusterMember
    from casework.people.models import Customer

    out: dict = {"cases": Case.objects.count(), "data": info}
    with Timer() as t:
        job = vectorising.vectorise_pending(budget_s=1e9)
    out["vectorise_backfill"] = {**t.as_dict(), **job}
    vectorising.forget()
    with Timer() as t:
        index = vectorising.index()
    out["index_load"] = {**t.as_dict(), "rows": len(index), "nnz": int(index.postings.nnz)}

    rng = random.Random(15)
    generated = list(Case.objects.order_by("-id").values_list("subject", "description")[:2000])
    reports = rng.sample(evaluation.load().docs, LOOKUPS)
    customers = list(Customer.objects.values_list("id", flat=True)[:500])
    texts = []
    for i in range(LOOKUPS):
        if i % 2 == 0:
            subject, body = rng.choice(generated)
            texts.append((f"again: {subject.lower()}", f"{body} Still happening, please help."))
        else:
            texts.append((reports[i].subject[:200], reports[i].body[:20000]))
    from casework.cases.services import case_open

    times, cpu, made = [], [], 0
    load_before = _load()
    for subject, body in texts:
        case = case_open(
            subject=subject or "(no subject)",
            description=body or "-",
            customer=Customer.objects.get(pk=rng.choice(customers)),
        )
        w0, c0 = time.perf_counter(), time.process_time()
        made += duplicates.suggest_for(case.pk)
        times.append((time.perf_counter() - w0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    times.sort()
    cpu.sort()
    out["duplicate_lookup"] = {
        "against": CaseVector.objects.count(),
        "lookups": len(times),
        "suggestions": made,
        "p50_ms": round(times[len(times) // 2], 1),
        "p95_ms": round(times[max(int(0.95 * len(times)) - 1, 0)], 1),
        "max_ms": round(times[-1], 1),
        "cpu_p50_ms": round(cpu[len(cpu) // 2], 1),
        "cpu_p95_ms": round(cpu[max(int(0.95 * len(cpu)) - 1, 0)], 1),
        "load_before": load_before,
        "load_after": _load(),
    }

    oldest = Case.objects.order_by("created_at").values_list("created_at", flat=True).first()
    ClusterMember.objects.all().delete()
    with Timer() as t:
        result = clustering.cluster_recent(since=oldest, batch=2000)
    out["clustering_all"] = {**t.as_dict(), **result, "cases": Case.objects.count()}
    return out


def run() -> dict:
    return {"quality": quality(), "scale": scale()}


def summary_lines(res: dict) -> list[str]:
    q, s = res.get("quality", {}), res.get("scale", {})
    lines = []
    for name in ("before", "stored"):
        a = q.get(name, {}).get("all", {})
        if a:
            lines.append(
                f"duplicates ({name}): recall@1 {a['recall@1']} @5 {a['recall@5']} @10 {a['recall@10']} "
                f"on {a['duplicates']} Hadoop duplicate reports"
            )
    d = s.get("duplicate_lookup")
    if d:
        lines.append(
            f"duplicate lookup against {d['against']} cases: p50 {d['p50_ms']} ms, p95 {d['p95_ms']} ms "
            f"(CPU p95 {d['cpu_p95_ms']} ms; load {d['load_before']} → {d['load_after']})"
        )
    c = s.get("clustering_all")
    if c:
        lines.append(
            f"clustering job over {c['cases']} cases: {c['wall_s']} s wall, {c['cpu_s']} s CPU, "
            f"{c['clusters']} clusters (load {c['load_before']} → {c['load_after']})"
        )
    v = s.get("vectorise_backfill")
    if v:
        lines.append(
            f"vectorise backfill of {v['vectorised']} cases: {v['wall_s']} s wall, {v['cpu_s']} s CPU"
        )
    return lines


if __name__ == "__main__":
    if "--quality-only" in sys.argv:
        result = {"quality": quality()}
    elif "--scale-only" in sys.argv:
        result = {"scale": scale()}
    else:
        result = run()
    print(json.dumps(result, indent=2))
    print("\n".join(summary_lines(result)), file=sys.stderr)
