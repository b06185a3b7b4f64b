"""`dqmc build --wheel DIR`: how a service installs the evaluators, without touching generated/."""

from __future__ import annotations

import json
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CLAIM = {"claim_id": "c1", "date_of_service": "2026-01-10", "product": "anzupgo-2pct-cream",
         "quantity": "60", "unit": "g", "days_supply": 30, "channel": "retail"}


def dqmc(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dqmc", *args], capture_output=True, text=True,
                          cwd=cwd, check=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A copy of the repository's specs built into its own generated/, with a wheel beside."""
    root = tmp_path_factory.mktemp("repo")
    for name in ("policy_specs", "docs.config.yaml"):
        source = REPO / name
        subprocess.run(["cp", "-r", str(source), str(root / name)], check=True)
    run = dqmc("build", "--wheel", "wheels", cwd=root)
    assert run.returncode == 0, run.stderr
    (wheel,) = (root / "wheels").glob("*.whl")
    assert f"wheel: wheels/{wheel.name}" in run.stdout
    return root, wheel


def test_the_wheel_installs_offline_into_a_fresh_venv_and_decides(built, tmp_path: Path) -> None:
    root, wheel = built
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    install = subprocess.run([str(python), "-m", "pip", "install", "--no-index", "--no-deps",
                              "--quiet", str(wheel)], capture_output=True, text=True, check=False)
    assert install.returncode == 0, install.stderr
    script = ("import json, sys, dqm_policies\n"
              "print(json.dumps(dqm_policies.evaluate(json.loads(sys.argv[1]))))\n")
    decided = subprocess.run([str(python), "-I", "-c", script, json.dumps(CLAIM)],
                             capture_output=True, text=True, check=True, cwd=tmp_path)
    decision = json.loads(decided.stdout)
    assert (decision["outcome"], decision["reject_code"]) == ("rejected", "76")
    # generated/ holds only what the build wrote: `build --check` still passes.
    check = dqmc("build", "--check", "--no-cache", cwd=root)
    assert check.returncode == 0, check.stdout + check.stderr
    assert not list((root / "generated").rglob("*.egg-info"))
    assert not (root / "generated" / "python" / "build").exists()


def test_the_wheel_holds_the_built_package_and_its_record(built) -> None:
    root, wheel = built
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        package = sorted(n for n in names if n.startswith("dqm_policies/"))
        on_disk = sorted(p.relative_to(root / "generated" / "python").as_posix()
                         for p in (root / "generated" / "python" / "dqm_policies").rglob("*")
                         if p.is_file() and "__pycache__" not in p.parts)
        assert package == on_disk
        for name in package:
            assert archive.read(name) == (root / "generated" / "python" / name).read_bytes()
        record = archive.read(next(n for n in names if n.endswith(".dist-info/RECORD")))
        listed = [line.split(",")[0] for line in record.decode().splitlines()]
        assert sorted(listed) == sorted(names)


def test_the_same_build_packs_the_same_bytes(built) -> None:
    root, wheel = built
    first = wheel.read_bytes()
    run = dqmc("build", "--wheel", "wheels", cwd=root)
    assert run.returncode == 0 and wheel.read_bytes() == first
