"""The benchmark harness's bookkeeping (no timings are asserted: figures on a shared VM are noise-prone)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ratios_say_how_many_times_better_casework_is(run):
    ours = {
        "create_api": {"cases_per_s": 60.0, "latency": {"p95_ms": 100.0}, "server_cpu_ms_per_case": 10.0},
        "list_api_first_page": {"p95_ms": 50.0},
        "case_page": {"p95_ms": 200.0},
        "list_ui": {"p95_ms": 150.0},
    }
    peer = {
        "create_api": {"tickets_per_s": 30.0, "latency": {"p95_ms": 300.0}, "server_cpu_ms_per_ticket": 40.0},
        "list_api_first_page": {"p95_ms": 5000.0},
        "detail_ui": {"p95_ms": 100.0},
        "email_intake": {"msgs_per_s_incl_startup": 16.0, "msgs_per_s_excl_startup": 20.0},
    }
    micro = {
        "bench_intake": {
            "ok": True,
            "result": {"batch": {"msgs_per_s": 40.0}, "with_case_hooks": {"msgs_per_s": 10.0}},
        }
    }
    ratios = {r["measure"]: r["ratio"] for r in run.comparison(ours, peer, micro)}
    assert ratios["API create throughput"] == 2.0  # ours / peer for throughput
    assert ratios["API create latency p95"] == 3.0  # peer / ours for latency
    assert ratios["server CPU per created item"] == 4.0
    assert ratios["API list first page p95"] == 100.0
    assert ratios["UI case page p95"] == 0.5  # slower than the peer shows as < 1
    # Found nested in bench_intake's result; set against the peer without its process start-up.
    assert ratios["email intake throughput (parse+thread+store)"] == 2.0
    assert ratios["email intake with every case hook"] == 0.5
    assert ratios["UI list page p95"] is None  # a figure missing on one side gives no ratio
    assert "UI search 'printer' p95" not in ratios  # a part neither side ran gives no row


def test_a_failing_micro_benchmark_is_recorded_not_raised(run, tmp_path):
    (tmp_path / "bench_broken.py").write_text("def run():\n    raise RuntimeError('boom')\n")
    (tmp_path / "bench_fine.py").write_text("def run():\n    print('noise')\n    return {'per_s': 5}\n")
    broken = run.run_micro("bench_broken", timeout=60, directory=tmp_path)
    fine = run.run_micro("bench_fine", timeout=60, directory=tmp_path)
    assert broken["ok"] is False
    assert "RuntimeError: boom" in broken["error"]
    assert fine == {"ok": True, "wall_s": fine["wall_s"], "result": {"per_s": 5}}


def test_summary_renders_a_run_whose_http_part_failed(run):
    res = {
        "started": "2026-01-01T00:00:00",
        "params": {"n": 10},
        "machine": {"cpus": 2, "python": sys.version.split()[0], "sqlite": "3", "git_commit": None},
        "api": {"ok": False, "error": "bench_api.py exited 1", "stderr_tail": "SystemCheckError"},
        "micro": {"bench_x": {"ok": False, "error": "timed out after 300 s"}},
        "peer": {"ok": True},
    }
    text = run.summary(res)
    assert "HTTP benchmark FAILED: bench_api.py exited 1" in text
    assert "bench_x" in text and "FAILED" in text
    assert "no comparison" in text
