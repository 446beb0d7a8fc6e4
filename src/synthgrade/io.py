"""Small file helpers shared by every stage: atomic writes, hashing, JSON."""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from synthgrade.errors import SynthgradeError

#: Temporary siblings are named ``.<target>.<pid>.<random>.tmp``: the pid tells a later run whether the
#: writer is still alive, so leftovers of a killed run (``kill -9`` skips every ``finally``) can be removed.
_TEMP_NAME = re.compile(r"^\.(?P<target>.+)\.(?P<pid>\d+)\.[^.]+\.tmp$")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def remove_stale_temporaries(folder: str | Path, target: str | None = None, recursive: bool = False) -> list[Path]:
    """Delete temporary files and folders left in ``folder`` by writers that no longer run; return them.

    Only names made by :func:`atomic_path` / :func:`atomic_directory` whose process is gone are touched
    (``target`` limits it to the temporaries of one output name), so a concurrent live writer is safe.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed: list[Path] = []
    entries = folder.rglob(".*.tmp") if recursive else folder.glob(f".{glob.escape(target)}.*.tmp" if target else ".*.tmp")
    for entry in list(entries):
        match = _TEMP_NAME.match(entry.name)
        if match is None or (target is not None and match["target"] != target) or _pid_alive(int(match["pid"])):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}."


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` and move it into place only on success.

    A crash or an exception never leaves a half-written output file behind; the leftovers of a killed
    earlier writer of the same output are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, path.name)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path`` that replaces ``path`` only when the block succeeds.

    A failure leaves no half-written model directory; a kill leaves a hidden temporary folder that the
    next writer of the same output removes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path.parent, path.name)
    staging = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), suffix=".tmp", dir=path.parent))
    try:
        yield staging
        if path.exists():
            shutil.rmtree(path)
        os.replace(staging, path)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when both name the same file or folder (links and relative paths included)."""
    a, b = Path(a), Path(b)
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def is_within(path: str | Path, folder: str | Path) -> bool:
    """True when ``path`` is ``folder`` or lies anywhere under it (links and relative paths resolved)."""
    path, folder = Path(path), Path(folder)
    if same_file(path, folder):
        return True
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def check_outputs(
    outputs: Iterable[str | Path],
    inputs: Iterable[str | Path | None] = (),
    overwrite: bool = False,
    option: str = "--out",
    directories: bool = False,
) -> None:
    """The one guard every command runs before writing: an output is never one of its inputs, never inside an
    input (a file inside a model directory), never a folder holding an input (replacing it would delete the
    input), and an existing output is replaced only with ``--overwrite``. ``directories``: the outputs are
    folders (a model or build directory); otherwise an output that is an existing folder is refused.
    Raises before anything is read or written."""
    sources = [Path(p) for p in inputs if p is not None and str(p)]
    for output in map(Path, outputs):
        for source in sources:
            if is_within(output, source):
                raise SynthgradeError(f"{output}: {option} would overwrite the input {source}; choose another {option}")
            if is_within(source, output):
                raise SynthgradeError(
                    f"{output}: {option} would delete the input {source}, which lies inside it; choose another {option}"
                )
        if not directories and output.is_dir():
            raise SynthgradeError(f"{output}: is a folder; {option} names a file to write")
        if output.exists() and not overwrite:
            raise SynthgradeError(f"{output}: already exists; choose another {option} or pass --overwrite")


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


#: ``scheme://user:password@host``: credentials a user may paste into a URL (``--base-url``).
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]+@")
#: ``?api_key=...``, ``&access_token=...``: query parameters whose names say they carry a secret.
_SECRET_PARAMETER = re.compile(
    r"(?P<name>[?&;][^=&#\s]*(?:key|token|secret|passw|pwd|auth|signature|sig|credential)[^=&#\s]*=)[^&#\s]*",
    re.IGNORECASE,
)


def redact_url(text: str) -> str:
    """``text`` with the credentials of every URL in it replaced by ``***``: the user and password, and the
    value of every query parameter whose name looks like a key or token (``api_key``, ``token``, ``sig``...)."""
    if "://" not in text:
        return text
    if "@" in text:
        text = _URL_CREDENTIALS.sub(r"\g<scheme>***@", text)
    if "?" in text:
        text = _SECRET_PARAMETER.sub(r"\g<name>***", text)
    return text


def to_jsonable(value: Any) -> Any:
    """Convert numpy scalars/arrays and paths so ``json.dumps`` accepts them; credentials in URLs are redacted.

    Every JSON file and JSONL line the tool writes goes through here, so a key pasted into ``--base-url``
    never reaches a summary, plan or results file.
    """
    import numpy as np

    if isinstance(value, str):
        return redact_url(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and value != value:  # NaN is not valid JSON
        return None
    return value


def dumps_json(data: Any) -> str:
    return json.dumps(to_jsonable(data), indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def write_json(path: str | Path, data: Any) -> None:
    write_text_atomic(path, dumps_json(data))


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def cache_dir() -> Path:
    """The tool's cache folder: ``$SYNTHGRADE_CACHE``, else the user cache folder (e.g. ~/.cache/synthgrade)."""
    env = os.environ.get("SYNTHGRADE_CACHE")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("synthgrade"))


def stable_hash(data: Any, length: int = 16) -> str:
    """Hash of a JSON-serialisable value that does not depend on dict order."""
    text = json.dumps(to_jsonable(data), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:length]
