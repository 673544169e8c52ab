"""A neck file as it was at a git revision: ``FILE.toml@REV`` (``fpn-paper.toml@HEAD``,
``necks/mine.toml@main~3``), read with ``git show`` and kept under that name like any neck file, so
the regression gate can time a file's old text beside its new one."""

from __future__ import annotations

import subprocess
from pathlib import Path

from fpnprof.errors import ConfigError
from fpnprof.model.neckfile import SHIPPED, SUFFIX, adopt_neck_text, loaded_spec
from fpnprof.model.necks.common import NeckSpec

GIT_TIMEOUT_S = 30


def is_file_at_revision(name: str) -> bool:
    """Whether a neck argument reads ``FILE.toml@REV``."""
    path, sep, rev = name.rpartition("@")
    return bool(sep and rev and path.endswith(SUFFIX))


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=GIT_TIMEOUT_S, check=False)
    except FileNotFoundError:
        raise ConfigError("FILE.toml@REV reads the file with git, which is not installed here") from None


def _where(path_text: str) -> Path:
    """The file's path now (or, for a shipped file's name, the shipped copy's): git finds the
    repository from its folder, which exists even where the file itself was deleted since REV."""
    path = Path(path_text)
    if path.is_absolute() or path.parent != Path(".") or path.exists():
        return path.resolve()
    shipped = SHIPPED / path.name
    return shipped if shipped.exists() else path.resolve()


def text_at_revision(name: str) -> str:
    """The text of ``FILE.toml@REV``; one line and exit 2 outside a repository or at a revision (or
    a path) that does not exist."""
    path_text, _, rev = name.rpartition("@")
    path = _where(path_text)
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(f"{name}: no folder {str(folder)!r} to find a git repository from")
    top = _git(["rev-parse", "--show-toplevel"], folder)
    if top.returncode != 0:
        raise ConfigError(f"{name}: {str(folder)!r} is not inside a git repository, so there is no revision {rev!r} to read")
    relative = path.relative_to(Path(top.stdout.strip()).resolve()).as_posix()
    if _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], folder).returncode != 0:
        raise ConfigError(f"{name}: no revision {rev!r} in the repository at {top.stdout.strip()}")
    shown = _git(["show", f"{rev}:{relative}"], folder)
    if shown.returncode != 0:
        raise ConfigError(f"{name}: {relative} does not exist at revision {rev!r}")
    return shown.stdout


def load_file_at_revision(name: str) -> NeckSpec:
    """The neck ``FILE.toml@REV`` names, read once per process and kept under that name."""
    return loaded_spec(name) or adopt_neck_text(name, text_at_revision(name), name)
