"""End-to-end runs of recipes/supcon_pair.py: `accelerate launch` with the offline MiniLM, the CCF data with a tiny
model (predictions for the whole test file), and an offline push to the Hub."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

from scl_trainer import SCLConfig
from tests.helpers import REPO_ROOT, load_recipe

pytestmark = pytest.mark.slow

RECIPE = REPO_ROOT / "recipes" / "supcon_pair.py"
CONFIGS = REPO_ROOT / "recipes" / "supcon_pair"


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
    return result


def test_accelerate_launch_minilm_mrpc_then_plain_pipeline(tmp_path, minilm_path, data_dir):
    out = tmp_path / "mrpc-minilm"
    accelerate = Path(sys.executable).parent / "accelerate"
    run(
        [
            str(accelerate), "launch", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no",
            "--dynamo_backend", "no", str(RECIPE),
            "--config", str(CONFIGS / "mrpc_minilm.yaml"),
            "--data_dir", str(data_dir),
            "--output_dir", str(out),
            "--max_train_samples", "48", "--max_eval_samples", "32",
            "--max_steps", "3", "--per_device_train_batch_size", "16", "--max_length", "64",
            "--eval_strategy", "steps", "--eval_steps", "3", "--save_strategy", "steps", "--save_steps", "3",
        ],
        cwd=tmp_path,
    )  # fmt: skip

    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "paraphrase"}  # one logit, named by the config's label_name
    threshold = config["decision_threshold"]
    card = (out / "README.md").read_text()
    assert "base_model: sentence-transformers/all-MiniLM-L6-v2" in card
    assert f"**{threshold:.4f}**" in card and "f1_at_threshold" in card and "scl_weight" in card

    # Plain transformers: the pipeline gives the match probability, sigmoid of the checkpoint's logit.
    classifier = pipeline("text-classification", model=str(out))
    pair = {"text": "The cat sat on the mat.", "text_pair": "A cat was sitting on the mat."}
    result = classifier(pair)
    result = result[0] if isinstance(result, list) else result
    assert result["label"] == "paraphrase" and 0.0 < result["score"] < 1.0
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    with torch.no_grad():
        logit = model(**tokenizer(pair["text"], pair["text_pair"], return_tensors="pt")).logits[0, 0]
    assert result["score"] == pytest.approx(torch.sigmoid(logit).item(), abs=1e-5)


def test_ccf_tiny_model_predicts_every_test_reply_in_submission_format(tmp_path, tiny_encoder_dir, data_dir):
    out = tmp_path / "ccf"
    run(
        [
            sys.executable, str(RECIPE),
            "--config", str(CONFIGS / "ccf_qa_match.yaml"),
            "--model_name_or_path", tiny_encoder_dir,
            "--data_dir", str(data_dir),
            "--output_dir", str(out),
            "--max_train_samples", "256", "--max_eval_samples", "128",
            "--max_steps", "4", "--per_device_train_batch_size", "32", "--per_device_eval_batch_size", "512",
            "--max_length", "64", "--learning_rate", "1e-3", "--eval_strategy", "no", "--save_strategy", "no",
            "--load_best_model_at_end", "false",
        ],
        cwd=tmp_path,
    )  # fmt: skip

    test_replies = (data_dir / "ccf_qa_match" / "test.reply.tsv").read_text(encoding="utf-8").splitlines()
    predictions = (out / "predictions.tsv").read_text(encoding="utf-8").splitlines()
    assert len(predictions) == len(test_replies) == 53_757
    rows = [line.split("\t") for line in predictions]
    assert all(len(r) == 3 for r in rows)
    assert [r[:2] for r in rows] == [line.split("\t")[:2] for line in test_replies]  # one row per reply, in order
    assert {r[2] for r in rows} <= {"0", "1"}

    # The labels are the checkpoint's probabilities at its tuned threshold (the seed's argmax wrote only 0s).
    queries = dict(
        line.split("\t") for line in (data_dir / "ccf_qa_match" / "test.query.tsv").read_text("utf-8").splitlines()
    )
    model = AutoModelForSequenceClassification.from_pretrained(out).eval()
    tokenizer = AutoTokenizer.from_pretrained(out)
    sample = test_replies[:200]
    encoded = tokenizer(
        [queries[r.split("\t")[0]] for r in sample],
        [r.split("\t")[2] for r in sample],
        truncation=True,
        max_length=64,
        padding=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        probabilities = torch.sigmoid(model(**encoded).logits[:, 0])
    expected = (probabilities >= model.config.decision_threshold).long().tolist()
    assert [int(r[2]) for r in rows[:200]] == expected


def test_push_to_hub_uploads_checkpoint_and_card(tmp_path, tiny_encoder_dir, data_dir, hub_uploads):
    """Offline: huggingface_hub's create_repo/upload_folder are intercepted; check what would be uploaded."""
    recipe = load_recipe("supcon_pair")
    out = tmp_path / "push"
    recipe.main(
        recipe.ScriptArguments(dataset_name="mrpc", data_dir=str(data_dir), max_train_samples=32, max_eval_samples=16),
        recipe.ModelArguments(model_name_or_path=tiny_encoder_dir),
        SCLConfig(
            output_dir=str(out),
            max_steps=2,
            per_device_train_batch_size=16,
            max_length=64,
            eval_strategy="steps",
            eval_steps=2,
            save_strategy="steps",
            save_steps=2,
            push_to_hub=True,
            hub_model_id="someone/tiny-scl-mrpc",
            report_to="none",
            disable_tqdm=True,
        ),
    )
    assert hub_uploads, "nothing was uploaded"
    final = hub_uploads[-1]
    assert final["repo_id"] == "someone/tiny-scl-mrpc" and final["path_in_repo"] is None
    for name in ("config.json", "model.safetensors", "README.md", "tokenizer_config.json", "training_args.bin"):
        assert name in final["files"], f"{name} not uploaded: {final['files']}"
    assert not any(f.startswith("checkpoint-") for f in final["files"])
    assert 'model="someone/tiny-scl-mrpc"' in final["readme"]
    assert "decision_threshold" in final["readme"]
    config = json.loads((out / "config.json").read_text())
    assert f"**{config['decision_threshold']:.4f}**" in final["readme"]
