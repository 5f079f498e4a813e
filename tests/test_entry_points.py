"""What every command-line entry point answers, as a new user met it: a flag's prefix is an unknown flag (never the
flag it starts), `--version` everywhere, and `embed`/`predict` name the kind of model they were given."""

import re
import tomllib

import pytest

from scl_trainer import __version__
from scl_trainer.__main__ import main as cli
from scl_trainer.compare import main as compare_main
from scl_trainer.errors import ConfigError
from tests.helpers import REPO_ROOT, load_recipe


@pytest.mark.parametrize(
    ("recipe", "prefix", "flag"),
    [
        ("supcon_pair", "--text_a_colum", "--text_a_column"),
        ("supcon_classify", "--label_colum", "--label_column"),
        ("simcse_unsup", "--eval_score_rang", "--eval_score_range"),
    ],
)
def test_a_recipe_flags_prefix_is_refused_not_taken_for_the_flag(recipe, prefix, flag):
    parser = load_recipe(recipe).parser()
    with pytest.raises(ConfigError, match=rf"unknown flag {prefix}; did you mean {flag}\b"):
        parser.parse_args_and_config([prefix, "x"])


@pytest.mark.parametrize(
    "argv",
    [
        ["predict", "--mode", "m", "--input", "x.tsv", "--output", "y.tsv"],
        ["embed", "--mode", "m", "--input", "x.tsv", "--output", "y.npy"],
    ],
)
def test_a_command_flags_prefix_is_refused(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli(argv)
    assert exit_info.value.code == 2
    assert "unknown flag --mode; did you mean --model" in capsys.readouterr().err


def test_a_compare_option_prefix_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr("scl_trainer.compare.run_one", lambda *args: pytest.fail("a run started"))
    with pytest.raises(ConfigError, match="did you mean --prune_runs"):
        compare_main(["--recipe", "supcon_pair", "--output_dir", str(tmp_path / "c"), "--arm", "a:scl_weight=0",
                      "--arm", "b:scl_weight=0.1", "--prune_run", "true"])  # fmt: skip


@pytest.mark.parametrize("recipe", ["supcon_pair", "supcon_classify", "simcse_unsup"])
def test_every_recipe_answers_version(recipe, capsys):
    with pytest.raises(SystemExit) as exit_info:
        load_recipe(recipe).parser().parse_args_and_config(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip().endswith(f"(scl_trainer {__version__})")


@pytest.mark.parametrize("command", ["predict", "embed", "compare"])
def test_every_command_answers_version(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli([command, "--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"python -m scl_trainer {command} (scl_trainer {__version__})"


@pytest.fixture
def single_text_classifier_dir(tmp_path, tiny_classifier, tiny_tokenizer):
    """A saved tiny two-class single-text classifier, as `supcon_classify` leaves one."""
    tiny_classifier.config.text_input = "single"
    tiny_classifier.config.class_names = ["neg", "pos"]
    tiny_classifier.config.decision_threshold = 0.5
    tiny_classifier.save_pretrained(tmp_path / "single")
    tiny_tokenizer.save_pretrained(tmp_path / "single")
    return tmp_path / "single"


def test_embed_calls_a_single_text_classifier_a_classifier_not_a_pair_classifier(
    single_text_classifier_dir, tmp_path, capsys
):
    texts = tmp_path / "t.tsv"
    texts.write_text("text\nhello world\n")
    with pytest.raises(SystemExit):
        cli(["embed", "--model", str(single_text_classifier_dir), "--input", str(texts), "--output",
             str(tmp_path / "o.npy")])  # fmt: skip
    error = capsys.readouterr().err
    assert "a cross-encoder classifier (BertForSequenceClassification) reads a text" in error
    assert "pair" not in error


@pytest.mark.parametrize("kind", ["single", "pair"])
def test_predicts_progress_counts_texts_or_pairs_by_model_kind(kind, classifier_dir, single_text_classifier_dir,
                                                               tmp_path, capsys):  # fmt: skip
    rows = tmp_path / "rows.tsv"
    if kind == "single":
        model = single_text_classifier_dir
        rows.write_text("text\nhello world\nthe market\n")
    else:
        model = classifier_dir
        rows.write_text("text_a\ttext_b\nhello\tworld\nthe\tmarket\n")
    cli(["predict", "--model", str(model), "--input", str(rows), "--output", str(tmp_path / "o.tsv")])
    progress = capsys.readouterr().err
    unit, other = ("texts", "pairs") if kind == "single" else ("pairs", "texts")
    assert f"{unit}/s" in progress and f"{other}/s" not in progress


def test_the_extra_the_readme_names_installs_every_peer_the_benches_import():
    """A new user installed the extra the README named and had no SetFit (it sat in `dev`)."""
    extras = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    packages = {name: {re.split(r"[<>=\[ ]", r)[0] for r in extra} for name, extra in extras.items()}
    named = re.search(r"come with the `(\w+)` extra", (REPO_ROOT / "README.md").read_text(encoding="utf-8"))
    assert named, "README.md does not name the extra that brings the peers"
    imported = set()
    for script in (REPO_ROOT / "bench").glob("*.py"):
        imported |= set(re.findall(r"^\s*(?:from|import) (setfit|sentence_transformers)\b", script.read_text(), re.M))
    assert imported == {"setfit", "sentence_transformers"}
    assert {name.replace("_", "-") for name in imported} <= packages[named.group(1)]
    assert "setfit" not in packages.get("dev", set())  # one place for each peer
