"""The CI workflows: valid against GitHub's workflow schema (check-jsonschema's vendored copy) and free of
zizmor's findings (unpinned actions, credential persistence, template injection), offline; and they run what the
README promises: `make test` on pull requests, the default book with the zoo restored by key on the main branch."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
BIN = Path(sys.executable).parent


def _tool(name: str) -> str:
    exe = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if exe is None:
        pytest.fail(f"{name} is not installed: `make test` installs it from requirements.txt")
    return exe


def _lint(folder: Path, files: list[Path]) -> list[subprocess.CompletedProcess]:
    return [subprocess.run([_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, files)],
                           capture_output=True, text=True, timeout=120),
            subprocess.run([_tool("zizmor"), "--offline", "--no-progress", str(folder)], capture_output=True, text=True,
                           timeout=120)]


def test_the_workflows_lint_clean():
    assert [w.name for w in WORKFLOWS] == ["book.yml", "test.yml"]
    for r in _lint(REPO / ".github" / "workflows", WORKFLOWS):
        assert r.returncode == 0, r.stdout + r.stderr


def test_the_lint_fails_on_a_bad_workflow(tmp_path):
    """The check can fail: an unpinned action (zizmor) and a malformed job (the schema) are caught."""
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    bad = folder / "bad.yml"
    bad.write_text("name: bad\non: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
                   "      - uses: actions/checkout@v4\n")
    schema, zizmor = _lint(folder, [bad])
    assert schema.returncode == 0 and zizmor.returncode != 0 and "unpinned" in zizmor.stdout + zizmor.stderr
    bad.write_text("name: bad\non: push\njobs:\n  a:\n    steps: 3\n")
    schema, _ = _lint(folder, [bad])
    assert schema.returncode != 0


def _steps(path: Path, job: str) -> list[dict]:
    return yaml.safe_load(path.read_text())["jobs"][job]["steps"]


def test_pull_requests_run_make_test_and_main_builds_and_publishes_the_default_book():
    test = yaml.safe_load((REPO / ".github/workflows/test.yml").read_text())
    assert "pull_request" in test[True]  # (YAML 1.1 reads the key `on` as True)
    assert any(s.get("run", "").startswith("make test") for s in _steps(REPO / ".github/workflows/test.yml", "test"))
    book_path = REPO / ".github/workflows/book.yml"
    book = yaml.safe_load(book_path.read_text())
    assert book[True]["push"]["branches"] == ["main"]
    steps = _steps(book_path, "build")
    runs = [s.get("run", "") for s in steps]
    assert any("python -m rilib.runner --cache-key default" in r for r in runs)
    zoo = next(s for s in steps if "data/zoo" in str(s.get("with", {}).get("path", "")).split())
    assert "book/generated" in zoo["with"]["path"].split()  # the executed pages: up-to-date ones are kept
    assert "steps.key.outputs.zoo" in zoo["with"]["key"] and "rilib-default-" in zoo["with"]["restore-keys"]
    assert runs.index(next(r for r in runs if r.startswith("make book PROFILE=default"))) > steps.index(zoo)
    assert any(s.get("uses", "").startswith("actions/upload-pages-artifact@") for s in steps)
    assert any(s.get("uses", "").startswith("actions/deploy-pages@") for s in book["jobs"]["deploy"]["steps"])


def test_the_cache_key_names_the_profile_and_the_code_digest():
    from rilib import cache, runner

    key = runner.ci_cache_key("default")
    assert key == f"rilib-default-{cache.code_digest('rilib')[:16]}" and key != runner.ci_cache_key("paper")
