"""Errors fpnprof reports to users as one line and exit code 2."""


class FpnprofError(Exception):
    """A problem with the user's request; the CLI prints it and exits with ``exit_code`` (2)."""

    exit_code = 2


class ConfigError(FpnprofError):
    """An option value or combination fpnprof cannot profile."""


class GraphError(FpnprofError):
    """A malformed graph or a shape mismatch found while building one."""


class VerificationError(FpnprofError):
    """A framework's real numbers differ from the analytic ones."""


class BackendUnavailable(FpnprofError):
    """A framework, engine or device that this machine cannot provide."""


class NeckFileError(ConfigError):
    """A neck file that cannot be read: one line naming the file, where in it, and the key."""

    def __init__(self, path: str, where: str, key: str | None, message: str) -> None:
        self.path, self.where, self.key = path, where, key
        at = f"{where}, key {key!r}" if key else where
        super().__init__(f"{path}: {at}: {message}")


class ImportRefused(FpnprofError):
    """A neck in code that ``fpnprof import`` cannot read: an op outside the registry, no level inputs,
    control flow a tracer cannot follow, a missing file or name, bad kwargs, channels that do not fit."""


class ImportDisproved(FpnprofError):
    """An import whose graph does not compute what its source computes: nothing is written, exit 1."""

    exit_code = 1
