"""One shape for every architecture: `SCLTrainer` reaches an architecture only through `scl_trainer.architectures`;
an unknown one is a one-line error naming the choices at every entry point (Python API, both classification recipes,
`predict` of a saved folder)."""

import ast
import json
import subprocess
import sys

import pytest

from scl_trainer import SCLConfig
from scl_trainer.architectures import ARCHITECTURES, Architecture, architecture_class
from scl_trainer.errors import ConfigError
from tests.helpers import REPO_ROOT

CHOICES = ", ".join(ARCHITECTURES)


def test_an_unknown_architecture_in_the_config_names_the_choices(tmp_path):
    with pytest.raises(ConfigError, match=rf"^SCLConfig: architecture must be one of {CHOICES}, got 'dual'$"):
        SCLConfig(output_dir=str(tmp_path), architecture="dual", use_cpu=True)
    with pytest.raises(ConfigError, match=rf"architecture must be one of {CHOICES}, got 'dual'"):
        architecture_class("dual")


@pytest.mark.parametrize("recipe", ["supcon_pair", "supcon_classify"])
def test_an_unknown_architecture_flag_is_one_line_naming_the_choices(tmp_path, recipe):
    done = subprocess.run(
        [sys.executable, f"recipes/{recipe}.py", "--architecture", "dual", "--output_dir", str(tmp_path / "out")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert "--architecture" in errors[0] and all(name in errors[0] for name in ARCHITECTURES)
    assert not (tmp_path / "out").exists()


def test_predict_refuses_a_saved_folder_of_an_unknown_architecture(tmp_path, tiny_encoder_dir):
    folder = tmp_path / "model"
    subprocess.run(["cp", "-r", str(tiny_encoder_dir), str(folder)], check=True)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "pair_architecture": "dual"}))
    (tmp_path / "in.tsv").write_text("text_a\ttext_b\na\tb\n")
    done = subprocess.run(
        [sys.executable, "-m", "scl_trainer", "predict", "--model", str(folder), "--input", str(tmp_path / "in.tsv"),
         "--output", str(tmp_path / "out.tsv")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"architecture must be one of {CHOICES}, got 'dual'" in errors[0]


@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_every_architecture_provides_the_required_interface(name):
    cls = ARCHITECTURES[name]
    assert cls.name == name and issubclass(cls, Architecture)
    required = [
        attribute
        for attribute, value in vars(Architecture).items()
        if callable(getattr(value, "__func__", value)) and "Required." in (getattr(value, "__doc__", "") or "")
    ]
    assert {"load", "prepare_model", "tokenize", "collator", "forward", "sentence_model"} <= set(required)
    missing = [attribute for attribute in required if attribute not in vars(cls)]
    assert not missing, f"{cls.__name__} does not implement {missing}"


def test_the_trainer_holds_no_architecture_branch():
    """The method file names no architecture: every decision of one lives in its class."""
    tree = ast.parse((REPO_ROOT / "scl_trainer" / "scl_trainer.py").read_text())
    strings = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)]
    named = [s for s in strings if s in ARCHITECTURES]
    imported = [a.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) for a in node.names]
    assert not named and not [name for name in imported if name.startswith(("BiEncoder", "CrossEncoder"))]
