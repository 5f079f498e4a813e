"""Bad input stops a recipe before training with an error naming the file, the row and the column (or the config
field), and nothing is written to the output directory. One case per file of tests/fixtures/bad_inputs/. Every case
is also run through the recipe's command line, which prints it as one `error:` line and exits with status 2."""

import os
import re

import pytest
from transformers import BertForSequenceClassification

from scl_trainer import SCLConfig, SimCSEConfig
from scl_trainer.errors import DataError
from scl_trainer.parser import ConfigArgumentParser
from scl_trainer.recipe_setup import run_recipe
from tests.helpers import FIXTURES, load_recipe, tiny_bert_config

BAD = FIXTURES / "bad_inputs"

PAIR_CASES = [
    ("label_2.tsv", r"label_2\.tsv, row 3, column 'label': label must be 0 or 1, got '2'"),
    ("label_yes.tsv", r"label_yes\.tsv, row 2, column 'label': label must be 0 or 1, got 'yes'"),
    ("label_empty.tsv", r"label_empty\.tsv, row 3, column 'label': missing label"),
    ("label_nan.csv", r"label_nan\.csv, row 2, column 'label': missing label \('NaN'\)"),
    ("empty_text.tsv", r"empty_text\.tsv, row 2, column 'text_b': empty or whitespace-only text"),
    ("whitespace_text.jsonl", r"whitespace_text\.jsonl, row 2, column 'text_a': empty or whitespace-only text"),
    ("missing_label_column.tsv", r"missing_label_column\.tsv, row 1, column 'label': column not found"),
    ("misnamed_columns.tsv", r"misnamed_columns\.tsv, row 1, column 'text_a': column not found; the columns are "),
    ("wrong_delimiter.tsv", r"wrong_delimiter\.tsv, row 1, .*wrong delimiter for a \.tsv file"),
    ("not_json.jsonl", r"not_json\.jsonl, row 2: not a JSON object"),
]


@pytest.fixture(scope="module")
def supcon_pair():
    return load_recipe("supcon_pair")


@pytest.fixture(scope="module")
def simcse_unsup():
    return load_recipe("simcse_unsup")


def pair_config(out, **overrides) -> SCLConfig:
    return SCLConfig(output_dir=str(out), max_steps=1, report_to="none", max_length=32, **overrides)


def run_pair_recipe(recipe, model, config, **script):
    return recipe.main(recipe.ScriptArguments(**script), recipe.ModelArguments(model_name_or_path=str(model)), config)


def assert_nothing_written(out):
    assert not os.path.exists(out) or not os.listdir(out), f"{out} was written: {os.listdir(out)}"


def assert_cli_error(recipe, argv, message, capsys):
    """The recipe's command line (what `python recipes/<name>.py ...` runs): exit status 2, exactly one `error:`
    line matching `message`, no traceback."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        run_recipe(recipe.main, recipe.parser(), [str(arg) for arg in argv])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and re.search(message, errors[0]), err
    assert "Traceback" not in err


def pair_argv(out, model, *extra):
    return ["--output_dir", out, "--max_steps", 1, "--report_to", "none", "--max_length", 32,
            "--model_name_or_path", model, *extra]  # fmt: skip


def simcse_argv(out, model, *extra):
    return ["--output_dir", out, "--max_steps", 1, "--report_to", "none", "--model_name_or_path", model, *extra]


@pytest.mark.parametrize(("name", "message"), PAIR_CASES, ids=[c[0] for c in PAIR_CASES])
def test_bad_pair_files(supcon_pair, tiny_encoder_dir, tmp_path, name, message, capsys):
    out = tmp_path / "out"
    with pytest.raises(DataError, match=message):
        run_pair_recipe(supcon_pair, tiny_encoder_dir, pair_config(out), dataset_name=str(BAD / name))
    assert_nothing_written(out)
    assert_cli_error(supcon_pair, pair_argv(out, tiny_encoder_dir, "--dataset_name", BAD / name), message, capsys)
    assert_nothing_written(out)


def test_empty_text_can_be_dropped_explicitly(supcon_pair, tiny_encoder_dir, tmp_path, caplog, capsys):
    with pytest.raises(DataError, match="no rows"):  # its only row is the empty one: dropped, and then nothing left
        run_pair_recipe(
            supcon_pair,
            tiny_encoder_dir,
            pair_config(tmp_path / "out"),
            dataset_name=str(BAD / "empty_text.tsv"),
            drop_empty_texts=True,
        )
    assert "dropped 1 rows with empty text (rows 2)" in caplog.text
    argv = pair_argv(
        tmp_path / "out", tiny_encoder_dir, "--dataset_name", BAD / "empty_text.tsv", "--drop_empty_texts"
    )
    assert_cli_error(supcon_pair, argv, "no rows", capsys)


def test_missing_data_dir(supcon_pair, tiny_encoder_dir, tmp_path, capsys):
    out = tmp_path / "out"
    message = r"directory .*nowhere/mrpc does not exist .*--data_dir"
    with pytest.raises(DataError, match=message):
        run_pair_recipe(
            supcon_pair, tiny_encoder_dir, pair_config(out), dataset_name="mrpc", data_dir=str(tmp_path / "nowhere")
        )
    assert_nothing_written(out)
    argv = pair_argv(out, tiny_encoder_dir, "--dataset_name", "mrpc", "--data_dir", tmp_path / "nowhere")
    assert_cli_error(supcon_pair, argv, message, capsys)


def test_ccf_reply_without_query(supcon_pair, tiny_encoder_dir, tmp_path, capsys):
    out = tmp_path / "out"
    message = r"train\.reply\.tsv, row 3, column 'query_id': query id '5' has no query"
    with pytest.raises(DataError, match=message):
        run_pair_recipe(
            supcon_pair,
            tiny_encoder_dir,
            pair_config(out),
            dataset_name="ccf_qa_match",
            data_dir=str(BAD / "ccf_orphan_reply"),
        )
    assert_nothing_written(out)
    argv = pair_argv(out, tiny_encoder_dir, "--dataset_name", "ccf_qa_match", "--data_dir", BAD / "ccf_orphan_reply")
    assert_cli_error(supcon_pair, argv, message, capsys)


@pytest.mark.parametrize(
    ("folder", "message"),
    [
        ("stsb_score_not_number", r"sts-dev\.csv, row 2, column 'score': not a number: 'five'"),
        ("stsb_score_out_of_range", r"sts-dev\.csv, row 2, column 'score': must be within \[0, 5\], got '5\.5'"),
    ],
)
def test_bad_sts_scores(simcse_unsup, tiny_encoder_dir, tmp_path, folder, message, capsys):
    out = tmp_path / "out"
    with pytest.raises(DataError, match=message):
        simcse_unsup.main(
            simcse_unsup.ScriptArguments(data_dir=str(BAD / folder)),
            simcse_unsup.ModelArguments(model_name_or_path=tiny_encoder_dir),
            SimCSEConfig(output_dir=str(out), max_steps=1, report_to="none", eval_strategy="steps"),  # reads STS-B
        )
    assert_nothing_written(out)
    argv = simcse_argv(out, tiny_encoder_dir, "--data_dir", BAD / folder, "--eval_strategy", "steps")
    assert_cli_error(simcse_unsup, argv, message, capsys)
    assert_nothing_written(out)


HUB_MISS = r"is not a local folder and the Hugging Face Hub is (disabled|unreachable).*Pass the path of a local"
LOCAL_MISS = r"--model_name_or_path ./no/such/local/model: no such local model folder \(no/such/local does not exist"


@pytest.mark.parametrize(
    ("name", "message"), [("no-such-org/no-such-model", HUB_MISS), ("./no/such/local/model", LOCAL_MISS)]
)
def test_unknown_model_while_offline(supcon_pair, data_dir, tmp_path, name, message, capsys):
    out = tmp_path / "out"
    with pytest.raises(OSError, match=message):
        run_pair_recipe(
            supcon_pair, name, pair_config(out), data_dir=str(data_dir), max_train_samples=8, max_eval_samples=8
        )
    assert_nothing_written(out)
    argv = pair_argv(out, name, "--data_dir", data_dir, "--max_train_samples", 8, "--max_eval_samples", 8)
    assert_cli_error(supcon_pair, argv, message, capsys)


def test_pair_recipe_refuses_a_multi_label_head(supcon_pair, data_dir, tiny_tokenizer, tmp_path, capsys):
    model_dir = tmp_path / "three-way-classifier"
    BertForSequenceClassification(tiny_bert_config(num_labels=3)).save_pretrained(model_dir)
    tiny_tokenizer.save_pretrained(model_dir)
    out = tmp_path / "out"
    message = r"has a sequence classification head with num_labels=3; this classifier needs 1 \(one logit for two"
    with pytest.raises(ValueError, match=message):
        run_pair_recipe(
            supcon_pair,
            str(model_dir),
            pair_config(out),
            data_dir=str(data_dir),
            max_train_samples=8,
            max_eval_samples=8,
        )
    assert_nothing_written(out)
    argv = pair_argv(out, model_dir, "--data_dir", data_dir, "--max_train_samples", 8, "--max_eval_samples", 8)
    assert_cli_error(supcon_pair, argv, message, capsys)


def test_max_length_above_the_model_limit(supcon_pair, data_dir, tiny_encoder_dir, tmp_path, capsys):
    out = tmp_path / "out"
    message = r"max_length=256 is above the limit of the model .* \(128 tokens\)"
    with pytest.raises(ValueError, match=message):
        run_pair_recipe(
            supcon_pair,
            tiny_encoder_dir,
            SCLConfig(output_dir=str(out), max_steps=1, report_to="none", max_length=256),
            data_dir=str(data_dir),
            max_train_samples=8,
            max_eval_samples=8,
        )
    assert_nothing_written(out)
    argv = pair_argv(out, tiny_encoder_dir, "--data_dir", data_dir, "--max_train_samples", 8, "--max_length", 256)
    assert_cli_error(supcon_pair, argv, message, capsys)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--scl_weight", "-0.5"], "scl_weight must be >= 0, got -0.5"),
        (["--scl_temperature", "0"], "scl_temperature must be > 0, got 0.0"),
    ],
)
def test_bad_loss_settings_from_the_command_line(supcon_pair, tmp_path, flags, message, capsys):
    parser = ConfigArgumentParser((supcon_pair.ScriptArguments, supcon_pair.ModelArguments, SCLConfig))
    with pytest.raises(ValueError, match=message):
        parser.parse_args_and_config(["--output_dir", str(tmp_path / "out"), *flags])
    assert not (tmp_path / "out").exists()
    assert_cli_error(supcon_pair, ["--output_dir", tmp_path / "out", *flags], message, capsys)


def test_simcse_temperature_from_the_command_line(simcse_unsup, tmp_path, capsys):
    parser = ConfigArgumentParser((simcse_unsup.ScriptArguments, simcse_unsup.ModelArguments, SimCSEConfig))
    with pytest.raises(ValueError, match="temperature must be > 0, got -0.05"):
        parser.parse_args_and_config(["--output_dir", str(tmp_path / "out"), "--temperature", "-0.05"])
    argv = ["--output_dir", tmp_path / "out", "--temperature", "-0.05"]
    assert_cli_error(simcse_unsup, argv, "temperature must be > 0, got -0.05", capsys)


def test_simcse_recipe_refuses_an_encoder_without_dropout(simcse_unsup, data_dir, tiny_tokenizer, tmp_path, capsys):
    from transformers import BertModel

    model_dir = tmp_path / "no-dropout"
    BertModel(tiny_bert_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)).save_pretrained(model_dir)
    tiny_tokenizer.save_pretrained(model_dir)
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="SimCSE needs dropout"):
        simcse_unsup.main(
            simcse_unsup.ScriptArguments(data_dir=str(data_dir), max_train_samples=16, max_eval_samples=8),
            simcse_unsup.ModelArguments(model_name_or_path=str(model_dir)),
            SimCSEConfig(output_dir=str(out), max_steps=1, report_to="none"),
        )
    assert_nothing_written(out)
    argv = simcse_argv(out, model_dir, "--data_dir", data_dir, "--max_train_samples", 16, "--max_eval_samples", 8)
    assert_cli_error(simcse_unsup, argv, "SimCSE needs dropout", capsys)
    assert_nothing_written(out)


def test_output_dir_with_a_finished_run(supcon_pair, data_dir, tiny_encoder_dir, tmp_path, capsys):
    out = tmp_path / "out"
    script = supcon_pair.ScriptArguments(data_dir=str(data_dir), max_train_samples=16, max_eval_samples=8)
    model = supcon_pair.ModelArguments(model_name_or_path=tiny_encoder_dir)
    supcon_pair.main(script, model, pair_config(out, per_device_train_batch_size=8))
    finished = sorted(os.listdir(out))
    with pytest.raises(FileExistsError, match=r"already holds a finished run .* --overwrite_output_dir .* "
                       r"--resume_from_checkpoint"):  # fmt: skip
        supcon_pair.main(script, model, pair_config(out, per_device_train_batch_size=8))
    assert sorted(os.listdir(out)) == finished
    argv = pair_argv(out, tiny_encoder_dir, "--data_dir", data_dir, "--max_train_samples", 16, "--max_eval_samples", 8)
    assert_cli_error(supcon_pair, argv, r"already holds a finished run .* --overwrite_output_dir", capsys)
    assert sorted(os.listdir(out)) == finished
    script.overwrite_output_dir = True  # asked for: trains again
    supcon_pair.main(script, model, pair_config(out, per_device_train_batch_size=8))


@pytest.mark.parametrize(
    ("predict_file", "message"),
    [
        ("missing.tsv", r"missing\.tsv does not exist"),
        ("misnamed_columns.tsv", r"misnamed_columns\.tsv, row 1, column 'text_a': column not found"),
    ],
)
def test_a_bad_predict_file_stops_the_run_before_training(
    supcon_pair, data_dir, tiny_encoder_dir, tmp_path, capsys, predict_file, message
):
    out = tmp_path / "out"
    path = BAD / predict_file if (BAD / predict_file).exists() else tmp_path / predict_file
    argv = pair_argv(out, tiny_encoder_dir, "--data_dir", data_dir, "--max_train_samples", 16, "--max_eval_samples", 8,
                     "--predict_file", path)  # fmt: skip
    assert_cli_error(supcon_pair, argv, message, capsys)
    assert_nothing_written(out)  # nothing trained, nothing saved


@pytest.mark.parametrize("recipe_name", ["supcon_pair", "simcse_unsup"])
def test_unreadable_compare_report(recipe_name, request, tmp_path, capsys):
    recipe = request.getfixturevalue(recipe_name)
    (tmp_path / "notes.json").write_text('{"runs": []}')
    for report, message in [
        (tmp_path / "missing.json", r"--compare_report .*missing\.json: not a compare\.json .*No such file"),
        (tmp_path / "notes.json", r"--compare_report .*notes\.json: not a compare\.json .*'summary'"),
    ]:
        argv = ["--output_dir", tmp_path / "out", "--compare_report", report]
        assert_cli_error(recipe, argv, message, capsys)
        assert_nothing_written(tmp_path / "out")
