"""pre-commit: the published hooks and this repository's config, validated and run for real."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from pre_commit.clientlib import load_config, load_manifest

HOOK_IDS = ["dqmc-check", "dqmc-fmt", "dqmc-build-check"]


def test_the_hooks_manifest_is_valid_for_pre_commit() -> None:
    hooks = load_manifest(str(REPO / ".pre-commit-hooks.yaml"))
    assert [hook["id"] for hook in hooks] == HOOK_IDS
    assert {hook["entry"] for hook in hooks} == {
        "dqmc check", "dqmc fmt --check", "dqmc build --check"}
    assert all((hook["language"] == "python" and hook["files"].startswith("^policy_specs/"))
               or hook["files"] == "^(policy_specs|generated)/" for hook in hooks)


def test_this_repository_runs_the_published_hooks_from_its_venv() -> None:
    config = load_config(str(REPO / ".pre-commit-config.yaml"))
    (local,) = config["repos"]
    assert local["repo"] == "local"
    published = {hook["id"]: hook for hook in load_manifest(str(REPO / ".pre-commit-hooks.yaml"))}
    # The code's own checks run here too; they are this repository's, not published.
    assert [h["id"] for h in local["hooks"] if h["id"] not in published] == [
        "ruff", "mypy", "lint-imports"]
    assert [h["id"] for h in local["hooks"] if h["id"] in published] == HOOK_IDS
    for hook in local["hooks"]:
        twin = published.get(hook["id"])
        if twin is None:
            assert hook["entry"].startswith(".venv/bin/")  # from the project venv: no network
            continue
        assert hook["language"] in ("system", "unsupported")  # pre-commit 4.4 renamed it
        assert hook["entry"] == ".venv/bin/" + twin["entry"]
        for key in ("files", "pass_filenames", "name"):
            assert hook[key] == twin[key], (hook["id"], key)


# -- `pre-commit run --all-files` in a scratch repository ----------------------------------------


def run(args: list[str], cwd: Path,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env, check=False)


@pytest.fixture
def policy_repo(tmp_path: Path) -> Path:
    """A git repository laid out like this one: the config, the Anzupgo specs, a fresh build."""
    repo = tmp_path / "repo"
    (repo / "policy_specs").mkdir(parents=True)
    for name in ("anzupgo.dqm", "anzupgo.yaml"):
        shutil.copy(REPO / "policy_specs" / name, repo / "policy_specs" / name)
    for name in (".pre-commit-config.yaml", "docs.config.yaml"):
        shutil.copy(REPO / name, repo / name)
    (repo / ".venv").symlink_to(Path(sys.executable).parents[1])  # the hooks' .venv/bin/dqmc
    build = run([str(repo / ".venv" / "bin" / "dqmc"), "build"], repo)
    assert build.returncode == 0, build.stdout + build.stderr
    for args in (["git", "init", "-q"], ["git", "add", "-A"]):
        assert run(args, repo).returncode == 0
    return repo


def pre_commit(repo: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRE_COMMIT_HOME": str(repo.parent / "pre-commit-home"),
           "PRE_COMMIT_COLOR": "never", "SKIP": ""}
    return run([sys.executable, "-m", "pre_commit", "run", "--all-files"], repo, env)


def test_pre_commit_run_all_files_passes_offline(policy_repo: Path) -> None:
    result = pre_commit(policy_repo)
    assert result.returncode == 0, result.stdout + result.stderr
    for name in ("dqmc check", "dqmc fmt --check", "dqmc build --check"):
        assert any(line.startswith(name) and line.endswith("Passed")
                   for line in result.stdout.splitlines()), result.stdout


def test_pre_commit_names_the_hook_a_change_breaks(policy_repo: Path) -> None:
    spec = policy_repo / "policy_specs" / "anzupgo.dqm"
    text = spec.read_text(encoding="utf-8")
    # A changed limit in both spellings, without a rebuild, and laid out by hand.
    spec.write_text(text.replace("retail        30 g per 30 days", "retail   60 g per 30 days"),
                    encoding="utf-8")
    twin = policy_repo / "policy_specs" / "anzupgo.yaml"
    twin.write_text(twin.read_text(encoding="utf-8").replace(
        "retail: 30 g per 30 days", "retail: 60 g per 30 days"), encoding="utf-8")
    run(["git", "add", "-A"], policy_repo)
    result = pre_commit(policy_repo)
    assert result.returncode == 1
    verdicts = {line.split(".")[0]: line.rsplit(".", 1)[-1] for line in result.stdout.splitlines()
                if line.startswith("dqmc ") and "..." in line}
    assert verdicts == {"dqmc check": "Passed", "dqmc fmt --check": "Failed",
                        "dqmc build --check": "Failed"}, result.stdout
