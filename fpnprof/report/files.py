"""File output: checked before any work, written atomically, with the user's umask."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from fpnprof.errors import ConfigError


def check_writable(path: Path, option: str, suffixes: Sequence[str] = ()) -> None:
    """Refuse, before anything is measured, a file path that cannot be written."""
    if path.is_dir():
        raise ConfigError(f"{option} {path} is a directory; give a file name, e.g. {path / 'result.json'}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ConfigError(f"{option} {path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{option} {path}: folder {folder} is not writable")
    if suffixes and path.suffix.lower() not in suffixes:
        raise ConfigError(f"{option} {path}: use a file name ending in {' or '.join(suffixes)}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: Path) -> Iterator[str]:
    """Yield a temporary path in the target's folder; rename it onto ``path`` only on success.
    The file gets the mode a plain ``open`` would give it (0666 less the umask), not mkstemp's 0600."""
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def write_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
