"""Every input checked up front with a message that points at the right place (issue classes: silent acceptance,
vague message, late failure): encodings, duplicated columns, directories, invisible texts, unclosed quotes, blank CCF
queries, splits that cannot hold both classes, out-of-range sample caps."""

import time
from pathlib import Path

import pytest

from scl_trainer.data import load_ccf_qa_match, load_pair_file
from scl_trainer.errors import ConfigError, DataError, OutputDirError
from scl_trainer.outputs import MANIFEST_NAME, RunManifest, check_output_dir, check_output_file
from scl_trainer.recipe_setup import run_recipe
from scl_trainer.sentence_data import load_sentences
from tests.helpers import load_recipe, locked_by_another_process


@pytest.fixture(scope="module")
def supcon_pair():
    return load_recipe("supcon_pair")


def write(path, content, encoding="utf-8"):
    path.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
    return path


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("latin1.tsv", "text_a\ttext_b\tlabel\na\tb\t1\ncaf\xe9\tb\t0\n".encode("latin-1"),
         r"latin1\.tsv, row 3: not UTF-8 text .* convert it to UTF-8"),
        ("gbk.csv", "text_a,text_b,label\n房子,学校,1\n".encode("gbk"), r"gbk\.csv, row 2: not UTF-8 text"),
        ("twice.tsv", "text_a\ttext_b\tlabel\tlabel\na\tb\t1\t0\n",
         r"twice\.tsv, row 1, column 'label': the header names this column more than once"),
        ("zero_width.tsv", "text_a\ttext_b\tlabel\na\tb\t1\n\u200b\u200c\tb\t0\n",
         r"zero_width\.tsv, row 3, column 'text_a': empty or whitespace-only text"),
        ("nul.tsv", "text_a\ttext_b\tlabel\na\tb\t1\nx\t\x00\x00\t0\n", r"nul\.tsv, row 3, column 'text_b': empty"),
        ("unclosed.csv", 'text_a,text_b,label\na,"b,1\nc,d,0\ne,f,1\n',
         r"unclosed\.csv, row 2: a quote opened on this row is not closed \(the record runs to line 4\)"),
    ],
)  # fmt: skip
def test_bad_files_name_the_file_row_and_problem(tmp_path, name, content, message):
    with pytest.raises(DataError, match=message):
        load_pair_file(write(tmp_path / name, content))


def test_a_byte_order_mark_is_fine(tmp_path):
    path = write(tmp_path / "bom.tsv", "\ufefftext_a\ttext_b\tlabel\na\tb\t1\n")
    assert load_pair_file(path)["text_a"] == ["a"]


def test_a_directory_given_as_a_file(tmp_path):
    (tmp_path / "pairs.tsv").mkdir()
    with pytest.raises(DataError, match=r"pairs\.tsv is a directory; give the data file inside it"):
        load_pair_file(tmp_path / "pairs.tsv")
    (tmp_path / "s.txt").mkdir()
    with pytest.raises(DataError, match=r"s\.txt is a directory"):
        load_sentences(str(tmp_path / "s.txt"))


def test_an_existing_file_of_another_type_is_not_looked_up_on_the_hub(tmp_path, supcon_pair):
    write(tmp_path / "pairs.parquet", b"PAR1")
    with pytest.raises(DataError, match=r"pairs\.parquet: unsupported file type '\.parquet'"):
        supcon_pair.load_splits(supcon_pair.ScriptArguments(dataset_name=str(tmp_path / "pairs.parquet")), seed=0)


def test_a_blank_ccf_query_is_reported_in_the_query_file(tmp_path):
    (tmp_path / "ccf_qa_match").mkdir()
    write(tmp_path / "ccf_qa_match" / "train.query.tsv", "0\t房子多少钱\n1\t \n")
    write(tmp_path / "ccf_qa_match" / "train.reply.tsv", "0\t0\t很贵\t1\n1\t0\t不知道\t0\n")
    with pytest.raises(DataError, match=r"train\.query\.tsv, row 2, column 'query': empty or whitespace-only text"):
        load_ccf_qa_match(tmp_path, "train")


def pairs_file(tmp_path, positives, negatives):
    rows = [f"a{i}\tb{i}\t1" for i in range(positives)] + [f"c{i}\td{i}\t0" for i in range(negatives)]
    return write(tmp_path / "pairs.tsv", "text_a\ttext_b\tlabel\n" + "\n".join(rows) + "\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"validation_size": 0.0}, r"validation_size must be a fraction in \(0, 1\), got 0.0"),
        ({"validation_size": 1.0}, r"validation_size must be a fraction in \(0, 1\), got 1.0"),
        ({"max_train_samples": 0}, r"max_train_samples must be >= 1 \(or unset for all\), got 0"),
        ({"max_eval_samples": -1}, r"max_eval_samples must be >= 1"),
        ({"train_size": 1}, r"train_size must be >= 2"),
        ({"label_noise": 1.5}, r"label_noise must be a fraction in \[0, 1\]"),
    ],
)
def test_script_settings_out_of_range(supcon_pair, args, message):
    with pytest.raises(ConfigError, match=message):
        supcon_pair.ScriptArguments(**args)


def test_splits_need_both_classes_on_both_sides(supcon_pair, tmp_path):
    one_negative = pairs_file(tmp_path, 20, 1)
    with pytest.raises(DataError, match=r"cannot hold out validation_size=0.1 of 21 pairs: .*least populated class"):
        supcon_pair.load_splits(supcon_pair.ScriptArguments(dataset_name=str(one_negative)), seed=0)
    only_positives = pairs_file(tmp_path, 20, 0)
    with pytest.raises(DataError, match=r"the train split \(.*\) has 18 positive and 0 negative pairs; it needs both"):
        supcon_pair.load_splits(supcon_pair.ScriptArguments(dataset_name=str(only_positives)), seed=0)


def test_the_command_line_reports_these_in_one_line(supcon_pair, tmp_path, tiny_encoder_dir, capsys):
    path = write(tmp_path / "latin1.tsv", "text_a\ttext_b\tlabel\ncaf\xe9\tb\t1\n".encode("latin-1"))
    argv = ["--dataset_name", str(path), "--model_name_or_path", tiny_encoder_dir, "--output_dir", str(tmp_path / "o")]
    with pytest.raises(SystemExit) as exit_info:
        run_recipe(supcon_pair.main, supcon_pair.parser(), argv)
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert exit_info.value.code == 2 and len(errors) == 1 and "row 2: not UTF-8 text" in errors[0]


# ---- Checkpoints and output dirs ----


def tiny_pair_argv(tmp_path, model, out, *extra):
    data = pairs_file(tmp_path, 12, 12)
    argv = ["--dataset_name", data, "--validation_size", "0.5", "--model_name_or_path", model, "--output_dir", out,
            "--max_steps", "2", "--per_device_train_batch_size", "4", "--max_length", "16", "--save_strategy", "steps",
            "--save_steps", "2", "--report_to", "none", "--disable_tqdm", "true", *extra]  # fmt: skip
    return [str(arg) for arg in argv]


def test_resuming_from_a_checkpoint_of_another_model_or_a_partial_one(supcon_pair, tmp_path, tiny_encoder_dir):
    from transformers import AutoModel

    simcse_checkpoint = tmp_path / "simcse-ckpt"
    AutoModel.from_pretrained(tiny_encoder_dir).save_pretrained(simcse_checkpoint)  # a BertModel: no head
    argv = tiny_pair_argv(tmp_path, tiny_encoder_dir, tmp_path / "out", "--resume_from_checkpoint", simcse_checkpoint)
    with pytest.raises(ConfigError, match=r"simcse-ckpt holds a BertModel, but this run trains a "
                                          r"BertForSequenceClassification"):  # fmt: skip
        run_recipe(supcon_pair.main, supcon_pair.parser(), argv, debug=True)

    run_recipe(supcon_pair.main, supcon_pair.parser(), tiny_pair_argv(tmp_path, tiny_encoder_dir, tmp_path / "a"))
    checkpoint = tmp_path / "a" / "checkpoint-2"
    (checkpoint / "optimizer.pt").unlink()
    resume = ["--resume_from_checkpoint", str(checkpoint), "--max_steps", "4"]
    with pytest.raises(ConfigError, match=r"checkpoint-2 lacks optimizer\.pt: training cannot continue exactly"):
        run_recipe(
            supcon_pair.main,
            supcon_pair.parser(),
            tiny_pair_argv(tmp_path, tiny_encoder_dir, tmp_path / "b", *resume),
            debug=True,
        )
    inexact = tiny_pair_argv(tmp_path, tiny_encoder_dir, tmp_path / "b", *resume, "--resume_inexact", "true")
    metrics = run_recipe(supcon_pair.main, supcon_pair.parser(), inexact)
    assert "eval_f1_at_0.5" in metrics
    (checkpoint / "model.safetensors").unlink()
    with pytest.raises(ConfigError, match=r"checkpoint-2 has no model weights"):
        run_recipe(
            supcon_pair.main,
            supcon_pair.parser(),
            tiny_pair_argv(tmp_path, tiny_encoder_dir, tmp_path / "c", *resume),
            debug=True,
        )


def test_a_save_cut_short_is_not_a_finished_run(supcon_pair, tmp_path, tiny_encoder_dir, caplog):
    out = tmp_path / "out"
    RunManifest(out).write([], saving=True)  # a run killed during its final save, before any checkpoint:
    (out / "config.json").write_text("{}")  # its files are known as the run's, and nothing can be resumed
    with caplog.at_level("WARNING"):
        run_recipe(supcon_pair.main, supcon_pair.parser(), tiny_pair_argv(tmp_path, tiny_encoder_dir, out))
    assert "removed what an unfinished run without a checkpoint left (1 entries)" in caplog.text
    assert (out / "trainer_state.json").exists() and (out / "model.safetensors").exists()
    assert RunManifest(out).read()["finished"] and "README.md" in RunManifest(out).read()["entries"]


def test_a_truncated_weight_file_is_named(supcon_pair, tmp_path, tiny_encoder_dir):
    run_recipe(supcon_pair.main, supcon_pair.parser(), tiny_pair_argv(tmp_path, tiny_encoder_dir, tmp_path / "a"))
    weights = tmp_path / "a" / "checkpoint-2" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # cut short
    resume = ["--resume_from_checkpoint", str(weights.parent), "--max_steps", "4"]
    with pytest.raises(ConfigError, match=r"checkpoint-2/model.safetensors: cannot be read: truncated or corrupt"):
        run_recipe(supcon_pair.main, supcon_pair.parser(),
                   tiny_pair_argv(tmp_path, tiny_encoder_dir, tmp_path / "b", *resume), debug=True)  # fmt: skip


def test_simcse_python_api_checks_texts_and_scores(tmp_path, tiny_encoder_dir, tiny_tokenizer):
    from datasets import Dataset

    from scl_trainer import SimCSEConfig, SimCSETrainer

    args = SimCSEConfig(output_dir=str(tmp_path / "o"), report_to="none", max_steps=1)
    with pytest.raises(DataError, match=r"the train dataset, row 1, column 'text': empty or whitespace-only text"):
        SimCSETrainer(tiny_encoder_dir, args, train_dataset=Dataset.from_dict({"text": ["a b", "\u200b"]}),
                      processing_class=tiny_tokenizer)  # fmt: skip
    pairs = Dataset.from_dict({"sentence1": ["a", "b"], "sentence2": ["c", "d"], "score": [1.0, float("nan")]})
    with pytest.raises(DataError, match=r"the eval dataset, row 1, column 'score': must be a finite number"):
        SimCSETrainer(tiny_encoder_dir, args, eval_dataset=pairs, processing_class=tiny_tokenizer)


def test_an_output_dir_holding_the_users_files_or_the_base_model_is_refused(supcon_pair, tmp_path, tiny_encoder_dir):
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("# My project\n")
    (project / "train.py").write_text("print('mine')\n")
    for overwrite in ([], ["--overwrite_output_dir", "true"]):  # --overwrite_output_dir replaces runs, not this
        with pytest.raises(OutputDirError, match=r"holds README.md, which no scl_trainer run recorded writing \(2 "):
            argv = [*tiny_pair_argv(tmp_path, tiny_encoder_dir, project), *overwrite]
            run_recipe(supcon_pair.main, supcon_pair.parser(), argv, debug=True)
    assert (project / "README.md").read_text() == "# My project\n" and (project / "train.py").exists()
    for overwrite in ([], ["--overwrite_output_dir", "true"]):  # the base model: never, even when asked
        with pytest.raises(OutputDirError, match=r"is the folder of the base model .* would overwrite its weights"):
            argv = [*tiny_pair_argv(tmp_path, tiny_encoder_dir, tiny_encoder_dir), *overwrite]
            run_recipe(supcon_pair.main, supcon_pair.parser(), argv, debug=True)


def test_overwrite_removes_only_what_runs_recorded(tmp_path):
    out = tmp_path / "out"
    (out / "checkpoint-4").mkdir(parents=True)
    (out / "modules.json").write_text("[]")  # an earlier SimCSE export: would make SentenceTransformer misread
    (out / "trainer_state.json").write_text("{}")
    RunManifest(out).write(["checkpoint-4", "modules.json", "trainer_state.json"], finished=True)
    with pytest.raises(OutputDirError, match="already holds a finished run"):
        check_output_dir(str(out), overwrite=False, resume_from_checkpoint=None)
    (out / "notes.txt").write_text("mine")  # named like nothing of ours, or like a run file: the user's either way
    (out / "model.safetensors").write_text("saved by the user's own save_pretrained")
    for overwrite in (False, True):
        with pytest.raises(OutputDirError, match=r"holds model.safetensors, which no scl_trainer run recorded"):
            check_output_dir(str(out), overwrite=overwrite, resume_from_checkpoint=None)
    assert len(list(out.iterdir())) == 6  # nothing removed
    (out / "notes.txt").unlink()
    (out / "model.safetensors").unlink()
    check_output_dir(str(out), overwrite=True, resume_from_checkpoint=None)
    assert sorted(p.name for p in out.iterdir()) == [MANIFEST_NAME]


def test_an_output_file_that_is_an_input_through_a_symlink_is_refused(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "in.tsv").write_text("text_a\ttext_b\na\tb\n")
    (tmp_path / "datalink").symlink_to(data)
    with pytest.raises(OutputDirError, match=r"--output .*data/in.tsv is the --input .*datalink/in.tsv \(the same"):
        check_output_file(str(data / "in.tsv"), {"input": str(tmp_path / "datalink" / "in.tsv")}, "output")
    with pytest.raises(OutputDirError, match=r"--output .*data is a directory"):
        check_output_file(str(data), {"input": str(data / "in.tsv")}, "output")


def test_settings_that_would_fail_late_fail_first(supcon_pair, tmp_path, tiny_encoder_dir, monkeypatch):
    parser = supcon_pair.parser()
    argv = tiny_pair_argv(tmp_path, tiny_encoder_dir, tmp_path / "out")
    with pytest.raises(ConfigError, match=r"metric_for_best_model 'roc_acu' is not a validation metric .* roc_auc"):
        parser.parse_args_and_config([*argv, "--metric_for_best_model", "roc_acu"])
    with pytest.raises(ConfigError, match=r"seed must be in \[0, 2\^32\)"):
        parser.parse_args_and_config([*argv, "--seed", "-1"])
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(ConfigError, match=r"--push_to_hub true, but the Hugging Face Hub is disabled here"):
        run_recipe(supcon_pair.main, supcon_pair.parser(), [*argv, "--push_to_hub", "true"], debug=True)
    assert not (tmp_path / "out").exists()
    # The Hub enabled but not answering (nothing listens on port 9): one line within seconds, before training.
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", "http://127.0.0.1:9")
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"Hub \(http://127\.0\.0\.1:9\) did not answer within 5 s .*hf upload"):
        run_recipe(supcon_pair.main, supcon_pair.parser(), [*argv, "--push_to_hub", "true"], debug=True)
    assert time.monotonic() - started < 30 and not (tmp_path / "out").exists()


def test_a_second_run_into_a_running_runs_output_dir_is_refused(supcon_pair, tmp_path, tiny_encoder_dir):
    out = tmp_path / "out"
    with locked_by_another_process(out, "--output_dir", folder=True) as pid:  # a running run holds its output dir
        with pytest.raises(OutputDirError, match=rf"--output_dir .*out is in use by .* process \(pid {pid};"):
            run_recipe(supcon_pair.main, supcon_pair.parser(), tiny_pair_argv(tmp_path, tiny_encoder_dir, out),
                       debug=True)  # fmt: skip
        assert sorted(p.name for p in out.iterdir()) == ["_scl_trainer.lock"]  # the holder's, nothing of ours
    new = tmp_path / "new"  # a run that fails on its data leaves no folder behind (the lock made it, then removed it)
    with pytest.raises(DataError):
        argv = tiny_pair_argv(tmp_path, tiny_encoder_dir, new, "--text_a_column", "nope")
        run_recipe(supcon_pair.main, supcon_pair.parser(), argv, debug=True)
    assert not new.exists()


class _Payload:  # a pickled object whose loading would run code: a safe load must refuse it, without running it
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_resume_reads_every_checkpoint_file_first_and_a_last_step_checkpoint_adds_no_step(
    supcon_pair, tmp_path, tiny_encoder_dir
):
    import json
    import shutil

    import torch
    from transformers import BertTokenizer

    out = tmp_path / "out"
    argv = tiny_pair_argv(tmp_path, tiny_encoder_dir, out, "--max_steps", "4", "--save_steps", "2")
    run_recipe(supcon_pair.main, supcon_pair.parser(), argv, debug=True)
    last = out / "checkpoint-4"
    pristine = tmp_path / "pristine"
    shutil.copytree(last, pristine)

    def resume(expected: str | None):
        if expected is None:
            return run_recipe(supcon_pair.main, supcon_pair.parser(), [*argv, "--resume_from_checkpoint", str(last)],
                              debug=True)  # fmt: skip
        with pytest.raises(ConfigError, match=expected):
            run_recipe(supcon_pair.main, supcon_pair.parser(), [*argv, "--resume_from_checkpoint", str(last)],
                       debug=True)  # fmt: skip
        shutil.rmtree(last)
        shutil.copytree(pristine, last)

    (last / "model.safetensors").write_bytes((last / "model.safetensors").read_bytes()[:200])
    resume(r"checkpoint-4/model.safetensors: cannot be read: truncated or corrupt .*Resume from another checkpoint")
    (last / "optimizer.pt").write_bytes(b"\x00" * 100)
    resume(r"checkpoint-4/optimizer.pt: cannot be read: truncated or corrupt")
    marker = tmp_path / "ran"
    torch.save({"state": _Payload(str(marker))}, last / "scheduler.pt")
    resume(r"checkpoint-4/scheduler.pt: cannot be read: it holds Python objects that a safe load refuses")
    assert not marker.exists()  # nothing in it was run
    (last / "trainer_state.json").write_text("[1, 2")
    resume(r"checkpoint-4/trainer_state.json: not a trainer state")
    vocab = (Path(__file__).parent / "fixtures" / "vocab.txt").read_text().splitlines()  # the tiny model's
    other = tmp_path / "vocab.txt"
    other.write_text("\n".join(vocab[:-2] + vocab[-1:] + vocab[-2:-1]) + "\n")  # same size, two tokens swapped
    BertTokenizer(vocab=str(other), do_lower_case=True).save_pretrained(last)
    resume(r"checkpoint-4: its tokenizer is not this run's \(\d+ vs \d+ tokens, 4 entries differ\)")
    (last / "scl_trainer_settings.json").unlink()  # nothing says which settings it was trained under
    resume(r"checkpoint-4: no scl_trainer_settings.json, so nothing says the run's settings are the checkpoint's")
    from scl_trainer import SCLConfig

    settings = SCLConfig(output_dir=str(tmp_path / "o"), label_names=["no", "yes"]).training_settings()
    assert settings["label_names"] == ["no", "yes"] and settings["architecture"] == "cross_encoder"

    with pytest.raises(ConfigError, match=r"checkpoint-4 was trained with learning_rate=5e-05, this run has "
                                          r"learning_rate=0.5 \(differing: learning_rate, scl_weight\)"):  # fmt: skip
        changed = [*argv, "--learning_rate", "0.5", "--scl_weight", "2", "--resume_from_checkpoint", str(last)]
        run_recipe(supcon_pair.main, supcon_pair.parser(), changed, debug=True)
    resume(None)  # the untouched last-step checkpoint: the run ends at step 4, not 5
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and max(entry["step"] for entry in state["log_history"]) == 4


def test_a_one_class_validation_set_and_bad_labels_of_a_tokenized_dataset_are_refused(
    tiny_encoder_dir, tiny_tokenizer, tmp_path
):
    from datasets import Dataset

    from scl_trainer import SCLConfig, SCLTrainer

    texts = {"text_a": ["a b", "c d", "e f", "g h"], "text_b": ["b a", "d c", "f e", "h g"]}
    train = Dataset.from_dict({**texts, "label": [1, 0, 1, 0]})
    args = SCLConfig(output_dir=str(tmp_path / "o"), report_to="none", max_steps=1)
    one_class = Dataset.from_dict({**texts, "label": [1, 1, 1, 1]})  # F1 would read 1.0 for a model saying "yes"
    with pytest.raises(DataError, match=r"the eval dataset.*every one of the 4 pairs has label 1; training and"):
        SCLTrainer(
            tiny_encoder_dir, args, train_dataset=train, eval_dataset=one_class, processing_class=tiny_tokenizer
        )
    tokenized = train.map(lambda b: tiny_tokenizer(b["text_a"], b["text_b"]), batched=True)
    tokenized = tokenized.remove_columns(["text_a", "text_b"])
    bad = tokenized.map(lambda row, i: {"label": 7 if i == 2 else row["label"]}, with_indices=True)
    with pytest.raises(DataError, match=r"the train dataset, row 2, column 'label': label must be a class index 0..1"):
        SCLTrainer(tiny_encoder_dir, args, train_dataset=bad, processing_class=tiny_tokenizer)
    with pytest.raises(DataError, match=r"the eval dataset, column 'label': every row has label 1"):
        SCLTrainer(tiny_encoder_dir, args, train_dataset=tokenized, processing_class=tiny_tokenizer,
                   eval_dataset=tokenized.map(lambda row: {"label": 1}))  # fmt: skip


def test_simcse_refuses_constant_eval_scores_and_a_corpus_of_one_sentence(tiny_encoder_dir, tiny_tokenizer, tmp_path):
    from datasets import Dataset

    from scl_trainer import SimCSEConfig, SimCSETrainer

    args = SimCSEConfig(output_dir=str(tmp_path / "o"), report_to="none", max_steps=1)
    train = Dataset.from_dict({"text": ["a b", "c d", "e f"]})
    flat = Dataset.from_dict({"sentence1": ["a", "b"], "sentence2": ["c", "d"], "score": [3.0, 3.0]})
    with pytest.raises(DataError, match=r"the eval dataset, column 'score': every pair has score 3; the Spearman"):
        SimCSETrainer(tiny_encoder_dir, args, train_dataset=train, eval_dataset=flat, processing_class=tiny_tokenizer)
    copies = Dataset.from_dict({"text": ["the same"] * 8})
    with pytest.raises(DataError, match=r"the train dataset, column 'text': every sentence is the same"):
        SimCSETrainer(tiny_encoder_dir, args, train_dataset=copies, processing_class=tiny_tokenizer)


def test_a_full_disk_is_found_before_training_and_at_the_final_save_is_one_line(
    supcon_pair, tmp_path, tiny_encoder_dir, monkeypatch, capsys
):
    import errno
    from collections import namedtuple

    usage = namedtuple("usage", "total used free")
    argv = tiny_pair_argv(tmp_path, tiny_encoder_dir, tmp_path / "out")
    with monkeypatch.context() as patch:
        patch.setattr("scl_trainer.outputs.shutil.disk_usage", lambda path: usage(10**9, 10**9, 1000))
        with pytest.raises(OutputDirError, match=r"output_dir .*out: 0 MiB free on its disk, the model alone needs"):
            run_recipe(supcon_pair.main, supcon_pair.parser(), argv, debug=True)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "model.safetensors")

    monkeypatch.setattr("transformers.Trainer.save_model", full)
    with pytest.raises(SystemExit):
        run_recipe(supcon_pair.main, supcon_pair.parser(), [*argv, "--overwrite_output_dir", "true"])
    err = capsys.readouterr().err
    assert err.count("error: ") == 1 and "Traceback" not in err
    assert "error: the disk is full: writing model.safetensors failed. Free space, then run the same command" in err


def test_predictions_that_would_replace_a_file_of_the_trained_model_are_refused_first(
    supcon_pair, tmp_path, tiny_encoder_dir
):
    out = tmp_path / "out"
    data = pairs_file(tmp_path, 12, 12)
    argv = tiny_pair_argv(tmp_path, tiny_encoder_dir, out, "--predict_file", data,
                          "--predictions_path", out / "config.json")  # fmt: skip
    with pytest.raises(OutputDirError, match=r"--predictions_path .*out/config.json is a file of the model folder"):
        run_recipe(supcon_pair.main, supcon_pair.parser(), argv, debug=True)
    assert not out.exists()  # refused before training


def test_resume_from_checkpoint_true_takes_the_last_one_or_says_there_is_none(supcon_pair, tmp_path, tiny_encoder_dir):
    out = tmp_path / "out"
    argv = tiny_pair_argv(tmp_path, tiny_encoder_dir, out, "--resume_from_checkpoint", "true")
    with pytest.raises(ConfigError, match=r"output_dir .*out holds no checkpoint-\* folder to resume from"):
        run_recipe(supcon_pair.main, supcon_pair.parser(), argv, debug=True)


def test_a_readme_that_mentions_scl_trainer_is_still_the_users(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "README.md").write_text("---\ntags:\n- scl_trainer\n---\n")  # looks like our card; not recorded
    for overwrite in (False, True):
        with pytest.raises(OutputDirError, match=r"holds README.md, which no scl_trainer run recorded writing"):
            check_output_dir(str(project), overwrite=overwrite, resume_from_checkpoint=None)
    assert (project / "README.md").read_text().startswith("---\ntags")
