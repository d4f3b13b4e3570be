"""The one-door rule, checked on the source: only cases/services assigns Case.status or creates CaseEvent
rows (its unit of work writes them; tests, migrations and demo data that goes through services
excepted). And the reactions rule: nothing in casework schedules work for after a commit."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _offences(path: Path) -> list[str]:
    name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Attribute) and target.attr == "status":
                    found.append(f"{name}:{node.lineno} assigns .status")
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            func = node.func
            if (
                func.attr in ("create", "bulk_create", "update")
                and isinstance(func.value, ast.Attribute)
                and func.value.attr == "objects"
                and isinstance(func.value.value, ast.Name)
                and func.value.value.id == "CaseEvent"
            ):
                found.append(f"{name}:{node.lineno} writes CaseEvent")
            if func.attr == "update" and any(kw.arg == "status" for kw in node.keywords):
                value = func.value
                while isinstance(value, ast.Call | ast.Attribute):
                    value = value.func if isinstance(value, ast.Call) else value.value
                if isinstance(value, ast.Name) and value.id == "Case":
                    found.append(f"{name}:{node.lineno} bulk-updates Case.status")
    return found


def test_only_case_services_write_status_and_events():
    # The services record events; the unit of work writes them at the end of the write.
    allowed = set((ROOT / "cases" / "services").glob("*.py"))
    offences = []
    for path in ROOT.rglob("*.py"):
        parts = set(path.relative_to(ROOT).parts)
        if path in allowed or "tests" in parts or "migrations" in parts or "testing" in parts:
            continue
        offences += _offences(path)
    # Task results have a status too; only Case.status and CaseEvent are guarded.
    offences = [o for o in offences if "core/scheduler.py" not in o]
    assert offences == []


def test_the_checker_catches_an_offence(tmp_path):
    bad = tmp_path / "offender.py"
    bad.write_text(
        "def f(case):\n    case.status = 'closed'\n    CaseEvent.objects.create(case=case)\n"
        "    Case.objects.filter(pk=1).update(status='new')\n"
    )
    assert len(_offences(bad)) == 3


def test_nothing_is_left_for_after_the_commit():
    """Decisions are made in the write's transaction and effects are outbox rows written in it: a process
    killed right after a commit must lose nothing, so no code may hand work to `on_commit`."""
    offences = []
    for path in ROOT.rglob("*.py"):
        parts = set(path.relative_to(ROOT).parts)
        if "tests" in parts or "migrations" in parts or "testing" in parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("on_commit", "dispatch_on_commit"):
                offences.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offences == []


def test_every_public_function_that_writes_a_case_is_a_door():
    """A service that locks, changes or records must run inside a unit of work: decorated with `@door`
    (or opening `unit_of_work` itself), so its reactions are decided before its transaction commits."""
    writers = {"_lock", "_set", "_record", "_record_all", "_transition_locked"}
    offences = []
    for path in (ROOT / "cases" / "services").glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                continue
            calls = {
                n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
            }
            decorators = {d.id for d in node.decorator_list if isinstance(d, ast.Name)}
            if calls & writers and "door" not in decorators and "unit_of_work" not in calls:
                offences.append(f"{path.name}:{node.lineno} {node.name}")
    assert offences == []
