"""The errors scl_trainer raises for what a user can fix. Each message is one line that names what to fix: the file,
row and column, or the setting and its allowed range. The command lines (`recipes/*.py`, `python -m scl_trainer`)
print them as `error: <message>` and exit with status 2 (`--debug` shows the traceback)."""

import errno

__all__ = ["USER_ERRORS", "ConfigError", "DataError", "ModelNotFoundError", "OutputDirError", "error_line"]


class DataError(ValueError):
    """Bad input data. The message names the file (or dataset), the row and the column."""


class ConfigError(ValueError):
    """A setting or command line that cannot work (unknown flag, value of the wrong type or out of range, a model
    that does not fit the method, a launch that would train each process alone). The message names the setting."""


class OutputDirError(FileExistsError):
    """An output directory or file that would be overwritten or lost."""


class ModelNotFoundError(OSError):
    """A model that is neither a local folder nor reachable on the Hub."""


USER_ERRORS = (DataError, ConfigError, OutputDirError, ModelNotFoundError)


def error_line(error: BaseException, rerun: str) -> str | None:
    """The one line `error: ...` the command lines print for an error a user can fix (a `USER_ERRORS` or a full
    disk, whose line says to free space and run `rerun`); None for anything else (a bug: its traceback is shown)."""
    if isinstance(error, USER_ERRORS):
        return "error: " + " ".join(str(error).split())
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return (
            f"error: the disk is full: writing {error.filename or 'the output'} failed. Free space, then run {rerun}"
        )
    return None
