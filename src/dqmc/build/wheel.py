"""The generated evaluator package as a wheel, packed from the build's own files (`--wheel DIR`).

A service installs the evaluators with `pip install DIR/dqm_policies-*.whl`. Installing from
`generated/python` instead would make setuptools write `build/` and `*.egg-info/` into
`generated/`, which `dqmc build --check` then reports as orphans. The wheel is packed here with
the standard library (a wheel is a zip archive with three metadata files, PEP 427), so packing
needs no build backend and no network, and the same build gives the same bytes.
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path

DISTRIBUTION = "dqm-policies"
_PACKAGE_ROOT = "python/"  # where the package's files sit among the build's outputs
# Zip entries carry a date; a fixed one (the earliest a zip can hold) keeps the bytes stable.
_EPOCH = (1980, 1, 1, 0, 0, 0)


def wheel_name(version: str) -> str:
    return f"{DISTRIBUTION.replace('-', '_')}-{version}-py3-none-any.whl"


def write_wheel(outputs: Mapping[str, bytes], wheel_dir: Path, *, version: str) -> Path:
    """Pack the `dqm_policies` package of a build's outputs into `wheel_dir`; the wheel's path.

    Written to a temporary file and renamed, so a reader never sees half a wheel.
    """
    files = {path[len(_PACKAGE_ROOT):]: data for path, data in sorted(outputs.items())
             if path.startswith(_PACKAGE_ROOT + "dqm_policies/")}
    if not files:
        raise ValueError("the build has no dqm_policies package to pack")
    info = f"{DISTRIBUTION.replace('-', '_')}-{version}.dist-info"
    files[f"{info}/METADATA"] = (
        "Metadata-Version: 2.1\n"
        f"Name: {DISTRIBUTION}\n"
        f"Version: {version}\n"
        "Summary: Generated Drug Quantity Management evaluators (standard library only)\n"
        "Requires-Python: >=3.11\n").encode()
    files[f"{info}/WHEEL"] = (
        "Wheel-Version: 1.0\n"
        f"Generator: dqmc {version}\n"
        "Root-Is-Purelib: true\n"
        "Tag: py3-none-any\n").encode()
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in files.items()]
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode("utf-8")

    wheel_dir.mkdir(parents=True, exist_ok=True)
    target = wheel_dir / wheel_name(version)
    handle, temporary = tempfile.mkstemp(dir=wheel_dir, prefix=".dqmc-wheel-")
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path, data in files.items():
                entry = zipfile.ZipInfo(path, date_time=_EPOCH)
                entry.external_attr = 0o644 << 16
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, data)
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def _digest(data: bytes) -> str:
    """RECORD's hash: urlsafe base64 of the SHA-256, without padding (PEP 376, PEP 427)."""
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
