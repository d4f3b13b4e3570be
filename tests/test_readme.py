"""The README's commands work as written on a machine set up with `make demo`."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_says_how_to_run_the_casework_command():
    readme = (ROOT / "README.md").read_text()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["casework"] == "casework.__main__:main"
    # `make demo` installs into .venv; the README must say where the command is before using it bare.
    makefile = (ROOT / "Makefile").read_text()
    assert "VENV ?= .venv" in makefile and "$(BIN)/casework" in makefile
    first_bare = readme.index("casework create-token")
    assert ".venv/bin/casework" in readme[:first_bare]
    assert "source .venv/bin/activate" in readme[:first_bare]
