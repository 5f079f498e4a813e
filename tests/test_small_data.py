"""The small-data policy (`classification_recipe.hold_out_validation`, `small_data_steps`), in both classification
recipes: when the hold-out would leave too few validation rows of a class to decide anything, no validation is held
out, training runs at least `small_data_min_steps` steps on every row, the final model is kept, and the log and the
card say so; `--small_data_per_class 0` holds out as before."""

import json
import logging

import pytest

from scl_trainer.errors import ConfigError
from scl_trainer.recipe_setup import run_recipe
from tests.helpers import load_recipe
from tests.test_classify import CLASSES, texts


def intents_file(tmp_path, per_class: int):
    rows = texts(per_class * len(CLASSES))
    lines = [f"{text} {CLASSES[i % 3]}\t{CLASSES[i % 3]}" for i, text in enumerate(rows)]
    path = tmp_path / "intents.tsv"
    path.write_text("utterance\tintent\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def faq_file(tmp_path, n: int):
    a, b = texts(n, seed=1), texts(n, seed=2)
    path = tmp_path / "faq.tsv"
    path.write_text("q\treply\tlabel\n" + "".join(f"{x}\t{y}\t{i % 2}\n" for i, (x, y) in enumerate(zip(a, b))))
    return path


def argv_of(recipe: str, data, model, out, *extra) -> list[str]:
    columns = (["--text_column", "utterance", "--label_column", "intent"] if recipe == "supcon_classify"
               else ["--text_a_column", "q", "--text_b_column", "reply"])  # fmt: skip
    argv = ["--dataset_name", data, *columns, "--model_name_or_path", model, "--output_dir", out, "--max_length", "16",
            "--num_train_epochs", "1", "--per_device_train_batch_size", "16", "--eval_strategy", "epoch",
            "--save_strategy", "epoch", "--load_best_model_at_end", "true", "--small_data_min_steps", "5",
            "--small_data_per_class", "10",
            "--report_to", "none", "--disable_tqdm", "true", *extra]  # fmt: skip
    return [str(a) for a in argv]


@pytest.mark.parametrize(
    ("recipe", "architecture"),
    [("supcon_classify", "cross_encoder"), ("supcon_classify", "embedding"), ("supcon_pair", "cross_encoder"),
     ("supcon_pair", "bi_encoder")],
)  # fmt: skip
def test_too_few_validation_rows_train_on_every_row_and_the_card_says_so(
    tmp_path, tiny_encoder_dir, st_encoder_dir, recipe, architecture, caplog
):
    data = intents_file(tmp_path, 10) if recipe == "supcon_classify" else faq_file(tmp_path, 40)
    module, out = load_recipe(recipe), tmp_path / "out"
    base = tiny_encoder_dir if architecture == "cross_encoder" else st_encoder_dir
    argv = argv_of(recipe, data, base, out, "--architecture", architecture)
    with caplog.at_level(logging.INFO):
        metrics = run_recipe(module.main, module.parser(), argv)
    assert not any(key.startswith("eval_") for key in metrics)  # nothing measured on too few rows
    warned = [r.getMessage() for r in caplog.records if r.getMessage().startswith("small data: holding out")]
    assert len(warned) == 1 and "fewer than small_data_per_class=10" in warned[0], warned
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 5  # 1 epoch of 30 or 40 rows in batches of 16 is 2-3 steps: the floor is 5
    assert not [entry for entry in state["log_history"] if "eval_loss" in entry]
    data_results = json.loads((out / "data_results.json").read_text())
    rows = data_results.get("train_rows", data_results.get("train_pairs"))
    assert rows == (30 if recipe == "supcon_classify" else 40)  # every row trained
    card = (out / "README.md").read_text(encoding="utf-8")
    assert "**Small data: no validation.**" in card and "for 5 optimizer steps (at least 5; the" in card
    assert "planned 2" in card or "planned 3" in card


@pytest.mark.parametrize("recipe", ["supcon_classify", "supcon_pair"])
def test_the_policy_can_be_turned_off_and_enough_rows_are_held_out_as_before(tmp_path, tiny_encoder_dir, recipe):
    data = intents_file(tmp_path, 10) if recipe == "supcon_classify" else faq_file(tmp_path, 40)
    module = load_recipe(recipe)
    argv = argv_of(recipe, data, tiny_encoder_dir, tmp_path / "a", "--small_data_per_class", "0")
    metrics = run_recipe(module.main, module.parser(), argv)
    assert any(key.startswith("eval_") for key in metrics)  # a hold-out was made and measured
    metrics = run_recipe(module.main, module.parser(),
                         argv_of(recipe, data, tiny_encoder_dir, tmp_path / "b", "--small_data_per_class", "1",
                                 "--validation_size", "0.3"))  # fmt: skip
    assert any(key.startswith("eval_") for key in metrics)  # enough rows of every class: the policy stays out


def test_small_data_settings_are_checked():
    module = load_recipe("supcon_classify")
    with pytest.raises(ConfigError, match="small_data_per_class must be >= 0"):
        module.parser().parse_args_and_config(["--small_data_per_class", "-1"])
    with pytest.raises(ConfigError, match="small_data_min_steps must be >= 1"):
        module.parser().parse_args_and_config(["--small_data_min_steps", "0"])
