"""Ownership of output folders (`outputs.RunManifest`), through every entry point that writes a run's folder (the
three recipes, and the Python API whose writes are recorded): a folder holding a model someone saved with
`save_pretrained`, or any file no run recorded, is refused with and without `--overwrite_output_dir` and left as it
was; a killed run with a checkpoint is never silently restarted (the two ways forward are named); a file that was in
the folder before a Python API run is never recorded as the run's."""

import json

import pytest
from transformers import BertModel

from scl_trainer import SCLConfig, SCLTrainer
from scl_trainer.errors import OutputDirError
from scl_trainer.outputs import RunManifest
from scl_trainer.recipe_setup import run_recipe
from tests.helpers import load_recipe, tiny_bert_config


def recipe_argv(name: str, tmp_path, model: str, out) -> list[str]:
    if name == "simcse_unsup":
        (tmp_path / "s.txt").write_text("".join(f"sentence number {i} here\n" for i in range(16)))
        data = ["--train_file", str(tmp_path / "s.txt"), "--eval_strategy", "no", "--interpolate", "none"]
    else:
        rows = [{"text_a": f"q {i}", "text_b": f"a {i}", "label": i % 2} for i in range(16)]
        if name == "supcon_classify":
            rows = [{"text": f"t {i}", "label": ["x", "y"][i % 2]} for i in range(16)]
        (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        data = ["--dataset_name", str(tmp_path / "d.jsonl")]
    return [*data, "--model_name_or_path", model, "--output_dir", str(out), "--max_steps", "1", "--report_to",
            "none", "--max_length", "16", "--per_device_train_batch_size", "4"]  # fmt: skip


RECIPES = ["supcon_pair", "supcon_classify", "simcse_unsup"]


@pytest.mark.parametrize("overwrite", [[], ["--overwrite_output_dir", "true"]], ids=["plain", "overwrite"])
@pytest.mark.parametrize("name", RECIPES)
def test_a_folder_holding_a_saved_model_is_refused_and_kept(tmp_path, tiny_encoder_dir, name, overwrite):
    out = tmp_path / "saved"
    BertModel(tiny_bert_config()).save_pretrained(out)  # config.json + model.safetensors, no README: not a run's
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    recipe = load_recipe(name)
    with pytest.raises(OutputDirError, match=r"holds config.json, which no scl_trainer run recorded writing"):
        run_recipe(recipe.main, recipe.parser(), [*recipe_argv(name, tmp_path, tiny_encoder_dir, out), *overwrite],
                   debug=True)  # fmt: skip
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


@pytest.mark.parametrize("name", RECIPES)
def test_a_killed_run_with_a_checkpoint_is_resumed_or_refused_never_restarted(tmp_path, tiny_encoder_dir, name):
    out = tmp_path / "run"
    (out / "checkpoint-3").mkdir(parents=True)
    RunManifest(out).write(["checkpoint-3"])  # what a run killed after its first checkpoint leaves
    recipe = load_recipe(name)
    with pytest.raises(OutputDirError, match=r"holds an unfinished run \(it stopped after checkpoint-3\)\. Continue "
                                             r"it with --resume_from_checkpoint .*checkpoint-3, or start over with "
                                             r"--overwrite_output_dir"):  # fmt: skip
        run_recipe(recipe.main, recipe.parser(), recipe_argv(name, tmp_path, tiny_encoder_dir, out), debug=True)
    assert (out / "checkpoint-3").is_dir()


def test_the_python_api_records_its_writes_and_never_the_users_files(tmp_path, tiny_encoder_dir):
    from datasets import Dataset

    out = tmp_path / "api"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    rows = Dataset.from_dict({"text": [f"t {i}" for i in range(8)], "label": ["x", "y"] * 4})
    args = SCLConfig(output_dir=str(out), report_to="none", max_steps=2, save_strategy="steps", save_steps=1,
                     per_device_train_batch_size=4, max_length=16, disable_tqdm=True)  # fmt: skip
    trainer = SCLTrainer(tiny_encoder_dir, args, train_dataset=rows)
    trainer.train()
    trainer.save_model()
    record = RunManifest(out).read()
    assert {"checkpoint-1", "checkpoint-2", "model.safetensors", "config.json"} <= set(record["entries"])
    assert "notes.txt" not in record["entries"] and record["foreign"] == ["notes.txt"] and record["finished"]
    with pytest.raises(OutputDirError, match=r"holds notes.txt, which no scl_trainer run recorded writing"):
        from scl_trainer.outputs import check_output_dir

        check_output_dir(str(out), overwrite=True, resume_from_checkpoint=None)
    assert (out / "notes.txt").read_text() == "mine"
