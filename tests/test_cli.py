"""The command line answers at once: `--help`, `--version` and argument errors before the training stack loads, a
"did you mean" for every mistyped flag, and a missing local model folder refused without a Hub lookup."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scl_trainer import __version__
from scl_trainer.__main__ import main as cli
from scl_trainer.arguments import EmbedArguments, PredictArguments, check_model_path
from scl_trainer.compare import main as compare_main
from scl_trainer.errors import ConfigError, ModelNotFoundError
from scl_trainer.recipe_setup import ModelArguments
from tests.helpers import REPO_ROOT, load_recipe

# Runs a command as `python -m scl_trainer ...` or `python recipes/x.py ...` would, then writes the modules it loaded.
PROBE = """
import atexit, json, runpy, sys
out, target, *args = sys.argv[1:]
atexit.register(lambda: open(out, "w").write(json.dumps(sorted(sys.modules))))
sys.argv = ["scl_trainer" if target == "-m" else target, *args]
if target == "-m":
    runpy.run_module("scl_trainer", run_name="__main__", alter_sys=True)
else:
    runpy.run_path(target, run_name="__main__")
"""
TRAINING_STACK = ("transformers.trainer", "transformers.modeling_utils", "datasets", "sklearn", "matplotlib")


@pytest.mark.parametrize(
    ("argv", "status", "heavy"),
    [
        (["-m", "predict", "--help"], 0, ("torch", *TRAINING_STACK)),
        (["-m", "embed", "--help"], 0, ("torch", *TRAINING_STACK)),
        (["-m", "compare", "--help"], 0, ("torch", *TRAINING_STACK)),
        (["-m", "--version"], 0, ("torch", *TRAINING_STACK)),
        (["-m", "predict", "--modle", "m", "--input", "x.tsv", "--output", "y.tsv"], 2, ("torch", *TRAINING_STACK)),
        # A recipe's config is a TrainingArguments, which imports torch: that is the floor, the rest is not loaded.
        (["recipes/supcon_pair.py", "--help"], 0, TRAINING_STACK),
        (["recipes/simcse_unsup.py", "--help"], 0, TRAINING_STACK),
        (["recipes/supcon_pair.py", "--scl_wieght", "0.1"], 2, TRAINING_STACK),
    ],
    ids=["predict", "embed", "compare", "version", "predict-typo", "supcon_pair", "simcse_unsup", "recipe-typo"],
)
def test_help_and_argument_errors_load_no_training_stack(tmp_path, argv, status, heavy):
    out = tmp_path / "modules.json"
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(out), *argv], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == status, done.stderr
    loaded = set(json.loads(out.read_text()))
    assert not [name for name in heavy if name in loaded]
    if status == 2:
        assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr


def test_version_and_unknown_command(capsys):
    cli(["--version"])
    assert capsys.readouterr().out.strip() == f"scl_trainer {__version__}"
    with pytest.raises(SystemExit) as exit_info:
        cli(["predcit", "--model", "m"])
    assert exit_info.value.code == 2
    assert "unknown command 'predcit'; did you mean `predict`?" in capsys.readouterr().err


def test_help_names_the_command(capsys):
    with pytest.raises(SystemExit):
        cli(["predict", "--help"])
    assert capsys.readouterr().out.startswith("usage: python -m scl_trainer predict ")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["predict", "--modle", "m", "--input", "x.tsv"], "unknown flag --modle; did you mean --model"),
        (["embed", "--model", "m", "--input", "x.tsv", "--text_colunm", "t"], "did you mean --text_column"),
        (["predict", "--treshold", "0.4"], "unknown flag --treshold; did you mean --threshold?"),
        (["embed", "--zzz"], "unknown flag --zzz; see --help"),
    ],
)  # fmt: skip
def test_a_mistyped_flag_names_the_closest(argv, message, capsys):
    with pytest.raises(SystemExit):
        cli(argv)
    assert message in capsys.readouterr().err


def test_recipe_typos_in_flags_and_yaml_name_the_field(tmp_path):
    parser = load_recipe("supcon_pair").parser()
    with pytest.raises(ConfigError, match=r"unknown flag --scl_wieght; did you mean --scl_weight or --class_weight\?"):
        parser.parse_args_and_config(["--scl_wieght", "0.1"])
    config = tmp_path / "typo.yaml"
    config.write_text("scl_temprature: 0.1\n")
    with pytest.raises(ConfigError, match=r"unknown field\(s\) \['scl_temprature'\].*did you mean scl_temperature\?"):
        parser.parse_args_and_config(["--config", str(config)])


ARMS = ["--arm", "a:scl_weight=0", "--arm", "b:scl_weight=0.1"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--arm", "a:scl_wieght=0", *ARMS[2:]], r"'scl_wieght'.*did you mean scl_weight or class_weight\?"),
        ([*ARMS, "--seed", "1"], r"--seed: set by compare"),
        ([*ARMS, "--resume-from-checkpoint", "x"], r"--resume-from-checkpoint: set by compare"),
        ([*ARMS, "--sedes", "1"], r"did you mean --seeds"),
        ([*ARMS, "--lerning_rate", "1e-5"], r"did you mean --learning_rate"),
    ],
)  # fmt: skip
def test_compare_typos_name_the_closest_option_or_field(tmp_path, monkeypatch, extra, message):
    monkeypatch.setattr("scl_trainer.compare.run_one", lambda *args: pytest.fail("a run started"))
    with pytest.raises(ConfigError, match=message):
        compare_main(["--recipe", "supcon_pair", "--output_dir", str(tmp_path / "cmp"), *extra])


def test_a_missing_local_model_folder_is_refused_without_a_hub_lookup(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outputs").mkdir()
    for value, where in [
        ("outputs/mypair", "outputs has no 'mypair'"),
        ("./mypair", "has no 'mypair'"),
        ("/no/such/folder/model", "/no/such/folder does not exist either"),
        ("~/no-such-model-folder", "has no 'no-such-model-folder'"),
        ("C:\\models\\pair", "has no"),
    ]:
        for build in (
            lambda v: ModelArguments(model_name_or_path=v),
            lambda v: PredictArguments(model=v, input="x.tsv", output="y.tsv"),
            lambda v: EmbedArguments(model=v, input="x.tsv", output="y.npy"),
        ):
            with pytest.raises(ModelNotFoundError, match=f"no such local model folder .*{where}"):
                build(value)
    # A hub id, or an existing folder, is left to the loader.
    for value in ("sentence-transformers/all-MiniLM-L6-v2", "bert-base-uncased", "outputs", str(tmp_path)):
        check_model_path(value, "model")


def test_the_offline_model_folder_for_other_libraries():
    """README: `resolve_model_name_or_path` gives other libraries the folder of the installed offline copy."""
    from sentence_transformers import SentenceTransformer

    from scl_trainer import resolve_model_name_or_path

    folder = resolve_model_name_or_path("sentence-transformers/all-MiniLM-L6-v2")
    assert (Path(folder) / "config.json").is_file() and (Path(folder) / "modules.json").is_file()
    encoder = SentenceTransformer(folder)  # HF_HUB_OFFLINE=1 in the tests: nothing is downloaded
    assert encoder.encode(["a sentence"]).shape == (1, 384)
    for other in ("bert-base-uncased", str(Path.cwd())):
        assert resolve_model_name_or_path(other) == other
