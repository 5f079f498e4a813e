"""The errors scl_trainer raises for what a user can fix. Each message is one line that names what to fix: the file,
row and column, or the setting and its allowed range. The command lines (`recipes/*.py`, `python -m scl_trainer`)
print them as `error: <message>` and exit with status 2 (`--debug` shows the traceback)."""

__all__ = ["USER_ERRORS", "ConfigError", "DataError", "ModelNotFoundError", "OutputDirError"]


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
