"""`HfArgumentParser` with `--config file.yaml`: the YAML gives the defaults, command-line flags override them."""

import os

import yaml
from transformers import HfArgumentParser

__all__ = ["ConfigArgumentParser", "ConfigError"]


class ConfigError(ValueError):
    """A command line or YAML config that cannot be parsed (unknown flag, value of the wrong type, ...)."""


class ConfigArgumentParser(HfArgumentParser):
    """Parse dataclasses from an optional YAML config plus command-line flags (flags win).

    Every YAML key must be a field of one of the dataclasses; a typo is an error naming the file, not a silently
    ignored setting.
    """

    def error(self, message: str):
        """argparse prints the usage and exits on a bad flag; raise instead, so the caller decides (the command
        line prints one `error:` line, `compare` checks every run's arguments before training)."""
        raise ConfigError(message)

    def parse_args_and_config(self, args: list[str]) -> tuple:
        args = list(args)
        if "--config" in args:
            i = args.index("--config")
            if i + 1 >= len(args):
                raise ValueError("--config needs a YAML file path")
            config_path = args[i + 1]
            del args[i : i + 2]
            self.set_defaults(**self._read_config(config_path))
        return self.parse_args_into_dataclasses(args=args, look_for_args_file=False)

    def _read_config(self, path: str) -> dict:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--config: file {path} does not exist")
        with open(path, encoding="utf-8") as f:
            values = yaml.safe_load(f) or {}
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a mapping of field: value, got {type(values).__name__}")
        known = {action.dest for action in self._actions}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"{path}: unknown field(s) {unknown}; every key must be a recipe or TrainingArguments field"
            )
        # argparse converts string defaults with the field's type but keeps other defaults as they are: YAML reads
        # `1e-5` as a string and `0.1` as a float, both end up right.
        return values
