"""Every model file the library reads goes through one safe load (`safe_load.read_tensors`): a truncated file or a
pickle holding code is one error naming the file and the fix, at every entry point that reads a model (`predict`,
`embed`, a recipe's base model, a resume), and nothing in it is run. Files the library creates never follow a
symlink planted at their path (`outputs.open_no_follow`), at every
entry point that creates one (the lock and partial output of `predict` and `embed`, a run's manifest); a resume
fingerprint covers every file that decides a model's outputs (`outputs.model_fingerprint`), so `embed --resume`
after the model's pooling changed is refused."""

import json
import os
import time
from pathlib import Path

import pytest

from scl_trainer.__main__ import main as cli
from scl_trainer.errors import OutputDirError
from scl_trainer.outputs import MANIFEST_NAME, ResumeState, RunManifest, model_fingerprint


@pytest.fixture
def st_dir(st_encoder_dir) -> Path:
    return Path(st_encoder_dir)


@pytest.mark.parametrize("planted", ["lock", "partial"])
@pytest.mark.parametrize("command", ["predict", "embed"])
def test_a_symlink_planted_where_predict_or_embed_writes_is_refused(tmp_path, classifier_dir, st_dir, command,
                                                                     planted, capsys):  # fmt: skip
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    rows = tmp_path / "in.jsonl"
    rows.write_text(
        "".join(json.dumps({"text_a": f"a {i}", "text_b": "b", "text": f"t {i}"}) + "\n" for i in range(3))
    )
    out = tmp_path / ("o.tsv" if command == "predict" else "o.npy")
    suffix = ".lock" if planted == "lock" else ".partial"
    if command == "embed" and planted == "partial":
        target = out.with_name("o.ids.txt.partial")  # the ids' partial file
    else:
        target = out.with_name(out.name + suffix)
    os.symlink(victim, target)
    model = classifier_dir if command == "predict" else st_dir
    with pytest.raises(SystemExit):
        cli([command, "--model", str(model), "--input", str(rows), "--output", str(out)])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "is a symbolic link; scl_trainer writes its own file there" in errors[0], err
    assert victim.read_text() == "precious"


def test_a_symlink_planted_as_a_runs_manifest_is_refused(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    (tmp_path / "run").mkdir()
    os.symlink(victim, tmp_path / "run" / (MANIFEST_NAME + ".partial"))
    with pytest.raises(OutputDirError, match=r"is a symbolic link; scl_trainer writes its own file there"):
        RunManifest(tmp_path / "run").write([])
    assert victim.read_text() == "precious"


@pytest.mark.parametrize("edited", ["1_Pooling/config.json", "modules.json", "config.json", "tokenizer_config.json"])
def test_the_fingerprint_covers_every_file_that_decides_the_outputs(st_dir, edited):
    before = model_fingerprint(str(st_dir))
    state = ResumeState(st_dir.parent / "out.npy.partial", {**before, "input": "x"})
    time.sleep(0.01)
    path = st_dir / edited
    path.write_text(path.read_text().replace("true", "false") + " ")  # e.g. the pooling changed
    after = model_fingerprint(str(st_dir))
    assert after != before
    state.partial.write_text("")
    state.save(done=1)
    with pytest.raises(OutputDirError, match=r"--resume: .*out\.npy\.partial was written by another command \(files"):
        ResumeState(state.partial, {**after, "input": "x"}).check()
    (st_dir / "README.md").write_text("a card changes nothing")  # not a file the outputs depend on
    assert model_fingerprint(str(st_dir)) == after


class _Payload:  # a pickled object whose loading would run code: a safe load must refuse it, without running it
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _spoil(folder: Path, kind: str, marker: Path) -> str:
    """Spoil the weights of a model folder; returns the name of the file an error must name."""
    import torch

    weights = folder / "model.safetensors"
    if kind == "truncated":
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 2])
        return "model.safetensors: cannot be read: truncated or corrupt"
    weights.unlink()
    torch.save({"weight": _Payload(str(marker))}, folder / "pytorch_model.bin")
    return "pytorch_model.bin: cannot be read: it holds Python objects that a safe load refuses"


@pytest.mark.parametrize("kind", ["truncated", "pickle"])
@pytest.mark.parametrize("entry", ["predict", "embed", "recipe base model"])
def test_a_spoiled_model_file_is_one_error_naming_it_at_every_entry_point(
    tmp_path, classifier_dir, st_dir, tiny_encoder_dir, entry, kind, capsys
):
    import shutil

    marker = tmp_path / "ran"
    rows = tmp_path / "in.jsonl"
    rows.write_text(
        "".join(json.dumps({"text_a": f"a {i}", "text_b": "b", "text": f"t {i}"}) + "\n" for i in range(3))
    )
    if entry == "recipe base model":
        from scl_trainer.recipe_setup import run_recipe
        from tests.helpers import load_recipe

        model = tmp_path / "base"
        shutil.copytree(tiny_encoder_dir, model)
        expected = _spoil(model, kind, marker)
        data = tmp_path / "pairs.tsv"
        data.write_text("text_a\ttext_b\tlabel\n" + "".join(f"q {i}\ta {i}\t{i % 2}\n" for i in range(12)))
        recipe = load_recipe("supcon_pair")
        argv = ["--dataset_name", data, "--validation_size", "0.5", "--model_name_or_path", model, "--output_dir",
                tmp_path / "out", "--max_steps", "1", "--report_to", "none"]  # fmt: skip
        with pytest.raises(SystemExit):
            run_recipe(recipe.main, recipe.parser(), [str(a) for a in argv])
        assert not (tmp_path / "out" / "model.safetensors").exists()
    else:
        model = tmp_path / "model-copy"
        shutil.copytree(classifier_dir if entry == "predict" else st_dir, model)
        expected = _spoil(model, kind, marker)
        out = tmp_path / ("o.tsv" if entry == "predict" else "o.npy")
        with pytest.raises(SystemExit):
            cli([entry, "--model", str(model), "--input", str(rows), "--output", str(out)])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and expected in errors[0] and "--model" in errors[0], err
    assert "Traceback" not in err and "weights_only" not in err  # no suggestion to unpickle
    assert not marker.exists()  # nothing in the pickle was run
