"""End-to-end: `accelerate launch recipes/simcse_unsup.py` with the offline MiniLM for a few steps, then the output
loads with plain `AutoModel` and with `SentenceTransformer`, which give the embeddings the recipe evaluated with."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from transformers import AutoModel, AutoTokenizer, EvalPrediction

from scl_trainer.export import read_sentence_pooling
from scl_trainer.metrics import sts_metrics
from scl_trainer.sentence_data import load_stsb
from tests.helpers import REPO_ROOT
from tests.test_recipe_supcon_pair import run

pytestmark = pytest.mark.slow


def test_accelerate_launch_minilm_then_automodel_and_sentence_transformers(tmp_path, minilm_path, data_dir):
    out = tmp_path / "simcse"
    accelerate = Path(sys.executable).parent / "accelerate"
    run(
        [
            str(accelerate), "launch", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no",
            "--dynamo_backend", "no", str(REPO_ROOT / "recipes" / "simcse_unsup.py"),
            "--config", str(REPO_ROOT / "recipes" / "simcse_unsup" / "stsb_minilm.yaml"),
            "--data_dir", str(data_dir), "--output_dir", str(out),
            "--max_train_samples", "96", "--max_eval_samples", "48", "--per_device_train_batch_size", "16",
            "--max_steps", "4", "--eval_steps", "2", "--save_steps", "2",
        ],
        cwd=tmp_path,
    )  # fmt: skip

    results = json.loads((out / "eval_results.json").read_text())
    keys = ("base_dev_spearman", "base_test_spearman", "base_native_dev_spearman", "base_native_test_spearman")
    for key in (*keys, "eval_spearman", "test_spearman"):
        assert -100.0 <= results[key] <= 100.0, key
    card = (out / "README.md").read_text()
    assert "base_model: sentence-transformers/all-MiniLM-L6-v2" in card and "test spearman" in card
    assert "base native test spearman" in card  # the baseline row: MiniLM with its own pooling

    # Plain transformers: the encoder, nothing missing or unexpected (the training-only MLP is kept apart).
    encoder, info = AutoModel.from_pretrained(out, output_loading_info=True)
    assert not any(info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), info
    tokenizer = AutoTokenizer.from_pretrained(out)
    sentences = load_stsb(data_dir, "test")["sentence1"][:8]
    with torch.no_grad():
        batch = tokenizer(sentences, padding=True, truncation=True, max_length=128, return_tensors="pt")
        hidden = encoder.eval()(**batch).last_hidden_state
    # The export names the pooling that was evaluated (CLS if training won on dev, MiniLM's own mean pooling if the
    # untouched model was kept), and MiniLM's Normalize module in both cases.
    pooling = read_sentence_pooling(str(out))
    assert pooling.normalize
    if pooling.pooler == "cls":
        expected = hidden[:, 0]
    else:
        mask = batch["attention_mask"].unsqueeze(-1).float()
        expected = (hidden * mask).sum(1) / mask.sum(1)
    expected = torch.nn.functional.normalize(expected, dim=-1).numpy()

    # sentence-transformers: that pooling + Normalize, max_seq_length 128, the same vectors.
    st_model = SentenceTransformer(str(out), device="cpu")
    assert st_model.max_seq_length == 128
    np.testing.assert_allclose(st_model.encode(sentences, convert_to_numpy=True), expected, atol=1e-5, rtol=1e-5)
    # ... and the score the recipe logged for the test split is what these embeddings give.
    test = load_stsb(data_dir, "test").select(range(48))
    a = st_model.encode(test["sentence1"], convert_to_numpy=True)
    b = st_model.encode(test["sentence2"], convert_to_numpy=True)
    recomputed = sts_metrics(EvalPrediction(predictions=np.stack([a, b], 1), label_ids=np.array(test["score"])))
    assert recomputed["spearman"] == pytest.approx(results["test_spearman"], abs=1e-4)
