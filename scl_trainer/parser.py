"""`HfArgumentParser` with `--config file.yaml`: the YAML gives the defaults, command-line flags override them."""

import argparse
import dataclasses
import difflib
import os
import sys

import yaml
from transformers import HfArgumentParser

from . import __version__
from .errors import ConfigError

__all__ = ["ConfigArgumentParser", "ConfigError", "did_you_mean"]


def did_you_mean(name: str, known: list[str]) -> str:
    """` did you mean --x or --y?` for the closest of `known` to a mistyped `name` (empty when none is close)."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    return f" did you mean {' or '.join(close)}?" if close else ""


class ConfigArgumentParser(HfArgumentParser):
    """Parse dataclasses from an optional YAML config plus command-line flags (flags win).

    Every YAML key must be a field of one of the dataclasses; a typo is an error naming the file, not a silently
    ignored setting. `--help` lists `--config` first, then each dataclass's fields, a `TrainingArguments` subclass's
    own fields before the inherited ones. Any error is a `ConfigError` (one line), never an exit; an unknown flag
    names the closest known ones.
    """

    def __init__(self, dataclass_types, yaml_config: bool = True, **kwargs):
        # The default usage line would list every one of the ~150 fields before the help itself.
        kwargs.setdefault("usage", "%(prog)s " + ("[--config YAML] " if yaml_config else "") + "[--FIELD VALUE ...]")
        # A flag's prefix is not the flag: `--text_a_colum` would silently set --text_a_column.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(dataclass_types, **kwargs)
        self.add_argument("--version", action="version", version=f"%(prog)s (scl_trainer {__version__})")
        if yaml_config:
            self.add_argument(
                "--config", metavar="YAML", default=argparse.SUPPRESS,
                help="YAML file of field: value defaults (any field below); flags given here override it.",
            )  # fmt: skip
        self._group_help_by_dataclass()

    def _group_help_by_dataclass(self) -> None:
        """Help sections in reading order: this command's options, then per dataclass its fields (a config's own
        fields before the `TrainingArguments` ones it inherits)."""
        # A dataclass that subclasses TrainingArguments has imported it; commands without one do not load it (torch).
        training_arguments = getattr(sys.modules.get("transformers.training_args"), "TrainingArguments", None)
        inherited = {f.name for f in dataclasses.fields(training_arguments)} if training_arguments else set()
        sections = []
        for dtype in self.dataclass_types:
            names = {f.name for f in dataclasses.fields(dtype) if f.init}
            if training_arguments is not None and issubclass(dtype, training_arguments):
                sections += [(f"{dtype.__name__} (its own fields)", names - inherited),
                             ("TrainingArguments (transformers)", names & inherited)]  # fmt: skip
            else:
                sections.append((dtype.__name__, names))
        for title, names in sections:
            group = self.add_argument_group(title)
            moved = [action for action in self._optionals._group_actions if action.dest in names]
            for action in moved:
                self._optionals._group_actions.remove(action)
                group._group_actions.append(action)

    def error(self, message: str):
        """argparse prints the usage and exits on a bad flag; raise instead, so the caller decides (the command
        line prints one `error:` line, `compare` checks every run's arguments before training)."""
        raise ConfigError(message)

    def flag_names(self) -> list[str]:
        """The long flags this parser knows, in their underscore spelling (the `--help` names)."""
        return sorted({o for a in self._actions for o in a.option_strings if o.startswith("--") and "-" not in o[2:]})

    def check_flags(self, args: list[str]) -> None:
        """Every `--flag` of `args` must be one of this parser's (no prefixes, `allow_abbrev=False`): a typo is an
        error naming the closest flags, before argparse would report a required flag as missing."""
        known = {o for a in self._actions for o in a.option_strings}
        for token in args:
            if not token.startswith("--") or token == "--":
                continue
            name = token.split("=", 1)[0]
            prefix_of = [o for o in known if o.startswith(name)] if self.allow_abbrev else []
            if name not in known and len(prefix_of) != 1:
                raise ConfigError(f"unknown flag {name};{did_you_mean(name, self.flag_names()) or ' see --help'}")

    def parse_args_and_config(self, args: list[str]) -> tuple:
        """The dataclasses from `args` (`--config path` or `--config=path` anywhere in it); a `ValueError` of any
        dataclass's checks comes out as a `ConfigError`. The config's values are defaults of this call only: the
        parser is left as it was, so a second call with another config (or none) never inherits the first's."""
        args = [part for arg in args for part in (arg.split("=", 1) if arg.startswith("--config=") else [arg])]
        self.check_flags(args)
        saved_actions, saved_defaults = [(a, a.default) for a in self._actions], dict(self._defaults)
        try:
            if "--config" in args:
                i = args.index("--config")
                if i + 1 >= len(args):
                    raise ConfigError("--config needs a YAML file path")
                config_path = args[i + 1]
                del args[i : i + 2]
                self.set_defaults(**self._read_config(config_path))
            return self.parse_args_into_dataclasses(args=args, look_for_args_file=False)
        except ConfigError:
            raise
        except ValueError as e:  # a dataclass's own checks (e.g. TrainingArguments' strategy combinations)
            raise ConfigError(str(e)) from e
        finally:
            for action, default in saved_actions:  # by action: a flag and its --no_ complement share a dest
                action.default = default
            self._defaults = saved_defaults

    def _read_config(self, path: str) -> dict:
        if not os.path.isfile(path):
            raise ConfigError(f"--config: file {path} does not exist")
        try:
            with open(path, encoding="utf-8") as f:
                values = yaml.load(f, Loader=_UniqueKeyLoader) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from None
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: expected a mapping of field: value, got {type(values).__name__}")
        # A field's own flag (`--refit_head`), not the `--no_refit_head` HfArgumentParser adds for a default of True.
        actions = {action.dest: action for action in self._actions if f"--{action.dest}" in action.option_strings}
        unknown = sorted(set(values) - set(actions))
        if unknown:
            hint = did_you_mean(unknown[0], [name.removeprefix("--") for name in self.flag_names()])
            raise ConfigError(
                f"{path}: unknown field(s) {unknown}; every key must be a recipe or TrainingArguments field.{hint}"
            )
        for key, value in values.items():
            _check_yaml_value(path, key, value, actions[key])
        # argparse converts string defaults with the field's type but keeps other defaults as they are: YAML reads
        # `1e-5` as a string and `0.1` as a float, both end up right.
        return values


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML key given twice is an error (plain YAML keeps the last one, silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} is given twice (line {key_node.start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


def _check_yaml_value(path: str, key: str, value, action) -> None:
    """A YAML value must be what the field's own type accepts: `scl_weight: yes` (a bool) is not a number."""
    if value is None:
        return
    values = value if isinstance(value, list) and action.nargs in ("+", "*") else [value]
    is_bool_field = getattr(action.type, "__name__", "") == "string_to_bool"
    for item in values:
        if isinstance(item, bool) and not is_bool_field:
            raise ConfigError(f"{path}: {key}: {item!r} is a yes/no value, but {key} takes {_type_name(action)}")
        if isinstance(item, (dict, list)):
            raise ConfigError(f"{path}: {key}: expected {_type_name(action)}, got a {type(item).__name__}")
        if action.type is not None:
            try:
                converted = action.type(item)
                if action.type is int and isinstance(item, float) and not item.is_integer():
                    raise ValueError(item)  # int(1.5) would be 1, silently
            except (TypeError, ValueError):
                raise ConfigError(f"{path}: {key}: {item!r} is not {_type_name(action)}") from None
            if action.choices is not None and converted not in action.choices:
                choices = ", ".join(map(str, action.choices))
                raise ConfigError(f"{path}: {key}: {item!r} is not one of {choices}")


def _type_name(action) -> str:
    name = getattr(action.type, "__name__", "a value")
    return {"float": "a number", "int": "a whole number", "str": "text", "string_to_bool": "true/false"}.get(
        name, name
    )
