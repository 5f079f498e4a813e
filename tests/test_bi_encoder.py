"""The bi-encoder pair classifier: its contrastive term against a naive loop, the step-0 candidate, the export
(AutoModel, SentenceTransformer, same cosines as the trainer), predict and embed on its output, and bad input."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoModel, BertForSequenceClassification, BertModel, EvalPrediction

from scl_trainer import SCLConfig, SCLTrainer, SimCSELoss
from scl_trainer.architectures.bi_encoder import BiEncoderPairClassifier, as_bi_encoder, load_bi_encoder
from scl_trainer.arguments import EmbedArguments
from scl_trainer.embed import embed, ids_path
from scl_trainer.errors import ConfigError, OutputDirError
from scl_trainer.export import write_sentence_transformers_config
from scl_trainer.metrics import pair_classification_metrics
from tests.helpers import REPO_ROOT, tiny_bert_config
from tests.test_scl_trainer import config, toy_pairs

# ---- The contrastive term: supervised SimCSE with hard negatives, against a loop ----


def naive_pair_loss(z: torch.Tensor, ids: list, positive: list[bool], temperature: float) -> float:
    """Loop reference, float64 Python scalars: rows 2i, 2i+1 are pair i; every row of a positive pair is an anchor
    whose target is the other row; masked for anchor j (besides j): rows (other than the target) holding the
    anchor's or the target's text, and rows holding a text that some positive pair matches with the anchor's text."""
    z = [[float(x) for x in row] for row in z.double()]
    z = [[x / math.sqrt(sum(v * v for v in row)) for x in row] for row in z]
    n = len(z)
    matched = {(ids[2 * i], ids[2 * i + 1]) for i in range(n // 2) if positive[i]}
    matched |= {(b, a) for a, b in matched}
    losses = []
    for j in range(n):
        if not positive[j // 2]:
            continue
        t = j + 1 - 2 * (j % 2)
        candidates = [
            k
            for k in range(n)
            if k == t or (k != j and ids[k] not in (ids[j], ids[t]) and (ids[j], ids[k]) not in matched)
        ]
        sims = {k: sum(a * b for a, b in zip(z[j], z[k])) / temperature for k in candidates}
        losses.append(-(sims[t] - math.log(sum(math.exp(s) for s in sims.values()))))
    return sum(losses) / len(losses) if losses else 0.0


CASES = {
    # ids per row (pair i = rows 2i, 2i+1) and the pair labels
    "distinct texts": ([0, 1, 2, 3, 4, 5, 6, 7], [True, False, True, False]),
    "query with a hard negative": ([0, 1, 0, 2, 3, 4, 5, 6], [True, False, True, True]),  # text 0 in pairs 0 and 1
    "two matching replies": ([0, 1, 0, 2, 3, 4, 5, 6], [True, True, False, True]),  # 1 and 2 both match 0
    "a duplicated reply": ([0, 1, 2, 1, 3, 4, 5, 5], [True, True, False, True]),  # 1 twice; pair 3 = same text twice
    "all negative but one": ([0, 1, 2, 3, 4, 5, 6, 7], [False, False, True, False]),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("temperature", [0.05, 0.5])
def test_supervised_simcse_matches_the_loop(case, temperature):
    ids, positive = CASES[case]
    z = torch.randn(len(ids), 6, generator=torch.Generator().manual_seed(len(case)), dtype=torch.float64)
    loss = SimCSELoss(temperature)(z, sentence_ids=torch.tensor(ids), positive_pairs=torch.tensor(positive))
    assert loss.item() == pytest.approx(naive_pair_loss(z, ids, positive, temperature), abs=1e-9)


def test_every_pair_positive_is_unsupervised_simcse():
    z = torch.randn(8, 5, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    ids = torch.tensor([0, 0, 1, 1, 2, 2, 0, 0])
    unsupervised = SimCSELoss(0.1)(z, sentence_ids=ids)
    assert SimCSELoss(0.1)(z, sentence_ids=ids, positive_pairs=torch.ones(4, dtype=torch.bool)).item() == (
        pytest.approx(unsupervised.item(), abs=1e-12)
    )


def test_the_hard_negative_counts():
    """Moving the negative reply of a query that is also an anchor changes the loss; moving that of a query with no
    matching reply in the batch does not (it is only a candidate of the others, far from everyone)."""
    ids, positive = CASES["query with a hard negative"]
    z = torch.randn(8, 6, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    loss = SimCSELoss(0.1)(z, sentence_ids=torch.tensor(ids), positive_pairs=torch.tensor(positive))
    closer = z.clone()
    closer[3] = z[0]  # the negative reply of query 0 (pair 1: rows 2, 3) now looks exactly like it
    moved = SimCSELoss(0.1)(closer, sentence_ids=torch.tensor(ids), positive_pairs=torch.tensor(positive))
    assert moved.item() > loss.item() + 1e-3


def test_no_positive_pair_gives_a_zero_with_zero_gradient():
    z = torch.randn(6, 4, requires_grad=True)
    loss = SimCSELoss(0.05)(z, positive_pairs=torch.zeros(3, dtype=torch.bool))
    loss.backward()
    assert loss.item() == 0.0 and torch.count_nonzero(z.grad) == 0


def test_gradcheck_supervised():
    z = torch.randn(8, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64).requires_grad_(True)
    ids, positive = torch.tensor(CASES["two matching replies"][0]), torch.tensor(CASES["two matching replies"][1])
    assert torch.autograd.gradcheck(lambda e: SimCSELoss(0.5)(e, sentence_ids=ids, positive_pairs=positive), (z,))


# ---- The model and the trainer ----


def bi_config(tmp_path, **overrides) -> SCLConfig:
    """test_scl_trainer's config, as a bi-encoder with the contrastive term on."""
    values = dict(
        architecture="bi_encoder", use_cpu=True, scl_weight=1.0, scl_temperature=0.1, threshold_min_per_class=2
    )
    return config(tmp_path, **{**values, **overrides})


def test_native_pooling_and_the_fitted_scale_reproduce_the_cosine_ranking(tmp_path, st_encoder_dir):
    model = load_bi_encoder(st_encoder_dir)
    assert model.pooler == "mean" and model.normalize and not model.calibrated
    pairs = toy_pairs(24, seed=1)
    trainer = SCLTrainer(model, bi_config(tmp_path), train_dataset=pairs, eval_dataset=toy_pairs(16, seed=2))
    assert trainer.model.calibrated and trainer.model.scale.item() > 0  # fitted by logistic regression
    from sklearn.linear_model import LogisticRegression

    cosines = trainer.architecture.pair_cosines(trainer.model, trainer.processing_class, pairs)
    fit = LogisticRegression(C=1e4).fit(cosines.reshape(-1, 1), pairs["label"])
    assert trainer.model.scale.item() == pytest.approx(fit.coef_[0, 0], rel=1e-6)
    assert trainer.model.bias.item() == pytest.approx(fit.intercept_[0], rel=1e-6)
    # At step 0 the model's ROC-AUC is the zero-shot baseline's: the same ranking.
    baselines = trainer.evaluate_baselines()
    metrics = trainer.evaluate()
    assert metrics["eval_roc_auc"] == pytest.approx(baselines["baseline_zero_shot_roc_auc"], abs=1e-9)
    assert metrics["baseline_zero_shot_roc_auc"] == baselines["baseline_zero_shot_roc_auc"]


def test_balanced_class_weights_of_a_bi_encoder_are_its_weighted_bce(tmp_path, st_encoder_dir):
    """The bi-encoder's batches carry `labels` (not `label`): its class weights and weighted BCE, by hand."""
    pairs = toy_pairs(24, seed=1)
    n_pos = sum(pairs["label"])
    hand = [24 / (2 * (24 - n_pos)), 24 / (2 * n_pos)]  # n / (K n_k)
    trainer = SCLTrainer(load_bi_encoder(st_encoder_dir), bi_config(tmp_path, class_weight="balanced", scl_weight=0),
                         train_dataset=pairs)  # fmt: skip
    assert trainer.class_weights.tolist() == pytest.approx(hand)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(24)])
    model = trainer.model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(model, batch)
        logits = trainer.compute_loss(model, batch, return_outputs=True)[1].logits[:, 0]
    w = torch.tensor(hand)[batch["labels"].long()]
    per_row = F.binary_cross_entropy_with_logits(logits, batch["labels"].float(), reduction="none")
    assert loss.item() == pytest.approx(((w * per_row).sum() / w.sum()).item(), rel=1e-5)


def test_a_cross_encoder_is_not_a_bi_encoder_base(tmp_path, tiny_tokenizer):
    model = BertForSequenceClassification(tiny_bert_config(num_labels=1))
    with pytest.raises(ConfigError, match="architecture=bi_encoder needs an encoder"):
        SCLTrainer(model, bi_config(tmp_path), processing_class=tiny_tokenizer)
    model.save_pretrained(tmp_path / "ce")
    with pytest.raises(ConfigError, match="is a cross-encoder classifier"):
        load_bi_encoder(str(tmp_path / "ce"))


def scripted_roc_auc(values):
    calls = iter(values)

    def compute(eval_pred: EvalPrediction):
        return {**pair_classification_metrics(eval_pred, min_per_class=2), "roc_auc": next(calls)}

    return compute


@pytest.mark.parametrize("scores", [[0.9, 0.5, 0.6], [0.5, 0.7, 0.6]], ids=["kept", "replaced"])
def test_step_0_competes(tmp_path, st_encoder_dir, scores, caplog):
    steps = dict(max_steps=4, eval_strategy="steps", eval_steps=2, save_strategy="steps", save_steps=2)
    base = {k: v.clone() for k, v in load_bi_encoder(st_encoder_dir).encoder.state_dict().items()}
    trainer = SCLTrainer(
        st_encoder_dir,
        bi_config(tmp_path, **steps, load_best_model_at_end=True, metric_for_best_model="roc_auc"),
        train_dataset=toy_pairs(24, seed=1),
        eval_dataset=toy_pairs(16, seed=2),
        compute_metrics=scripted_roc_auc(scores + [scores[0]] * 3),
    )
    fitted = trainer.model.scale.item(), trainer.model.bias.item()
    with caplog.at_level("WARNING"):
        trainer.train()
    encoder = trainer.model.encoder.state_dict()
    if scores[0] == 0.9:  # never beaten: the untouched encoder with its fitted scale and bias is kept
        assert trainer.kept_base_model and trainer.state.best_model_checkpoint.endswith("checkpoint-0")
        assert all(torch.equal(encoder[k], v) for k, v in base.items())
        assert (trainer.model.scale.item(), trainer.model.bias.item()) == pytest.approx(fitted)
        assert "training never beat the untouched model" in caplog.text
    else:
        assert not trainer.kept_base_model and trainer.state.best_model_checkpoint.endswith("checkpoint-2")
        assert not all(torch.equal(encoder[k], v) for k, v in base.items())


@pytest.fixture(scope="module")
def trained_bi_encoder(tmp_path_factory):
    """A tiny bi-encoder trained a few steps through the recipe code path (SCLTrainer), saved like a run."""
    from transformers import BertTokenizer

    from tests.helpers import FIXTURES

    tmp_path = tmp_path_factory.mktemp("bi")
    tokenizer = BertTokenizer(vocab=str(FIXTURES / "vocab.txt"), do_lower_case=True, model_max_length=128)
    torch.manual_seed(0)
    base = tmp_path / "st-base"
    BertModel(tiny_bert_config()).save_pretrained(base)
    tokenizer.save_pretrained(base)
    write_sentence_transformers_config(str(base), "mean", 32, 32, normalize=True)
    trainer = SCLTrainer(str(base), bi_config(tmp_path), train_dataset=toy_pairs(24, seed=1),
                         eval_dataset=toy_pairs(16, seed=2))  # fmt: skip
    trainer.train()
    trainer.evaluate()
    trainer.save_model()
    trainer.create_model_card(dataset_name="toy")
    return trainer, tmp_path / "out"


def test_export_loads_in_sentence_transformers_and_automodel_with_the_trainers_cosines(trained_bi_encoder):
    from sentence_transformers import SentenceTransformer

    trainer, out = trained_bi_encoder
    config = json.loads((out / "config.json").read_text())
    assert config["pair_architecture"] == "bi_encoder" and "decision_threshold" in config
    assert config["pair_scale"] == pytest.approx(trainer.model.scale.item())
    assert isinstance(AutoModel.from_pretrained(out), BertModel)
    st = SentenceTransformer(str(out), device="cpu")
    pairs = toy_pairs(16, seed=2)
    u = st.encode(pairs["text_a"], convert_to_tensor=True)
    v = st.encode(pairs["text_b"], convert_to_tensor=True)
    expected = trainer.architecture.pair_cosines(trainer.model, trainer.processing_class, pairs)
    np.testing.assert_allclose(st.similarity_pairwise(u, v).numpy(), expected, atol=1e-5)
    assert torch.allclose(u.norm(dim=-1), torch.ones(len(u)), atol=1e-5)  # Normalize kept
    logits = trainer.predict(trainer.eval_dataset).predictions.reshape(-1)
    np.testing.assert_allclose(logits, config["pair_scale"] * expected + config["pair_bias"], atol=1e-4)
    card = (out / "README.md").read_text()
    assert "model.similarity" in card and "pair_scale" in card and "Baselines on the same validation pairs" in card


def test_predict_and_embed_on_a_bi_encoder_output(trained_bi_encoder, tmp_path):
    from sentence_transformers import SentenceTransformer

    _, out = trained_bi_encoder
    pairs = toy_pairs(10, seed=3)
    source = tmp_path / "pairs.tsv"
    source.write_text("id\ttext_a\ttext_b\n" + "".join(f"p{i}\t{a}\t{b}\n" for i, (a, b) in enumerate(
        zip(pairs["text_a"], pairs["text_b"]))))  # fmt: skip
    command = [sys.executable, "-m", "scl_trainer", "predict", "--model", str(out), "--input", str(source), "--output",
               str(tmp_path / "scores.tsv"), "--id_columns", "id", "--write_probability", "true"]  # fmt: skip
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = [line.split("\t") for line in (tmp_path / "scores.tsv").read_text().splitlines()]
    st = SentenceTransformer(str(out), device="cpu")
    config = json.loads((out / "config.json").read_text())
    cosines = st.similarity_pairwise(st.encode(pairs["text_a"]), st.encode(pairs["text_b"])).numpy()
    probabilities = 1 / (1 + np.exp(-(config["pair_scale"] * cosines + config["pair_bias"])))
    assert [line[0] for line in lines] == [f"p{i}" for i in range(10)]
    np.testing.assert_allclose([float(line[2]) for line in lines], probabilities, atol=1e-5)
    assert [int(line[1]) for line in lines] == [int(p >= config["decision_threshold"]) for p in probabilities]

    texts = tmp_path / "replies.jsonl"
    texts.write_text("".join(json.dumps({"id": f"r{i}", "text": t}) + "\n" for i, t in enumerate(pairs["text_b"])))
    output = tmp_path / "replies.npy"
    args = EmbedArguments(model=str(out), input=str(texts), output=str(output), batch_size=3, window_size=4)
    assert embed(args) == 10
    np.testing.assert_allclose(np.load(output), st.encode(pairs["text_b"]), atol=1e-5)
    assert ids_path(output).read_text().split() == [f"r{i}" for i in range(10)]
    assert not list(tmp_path.glob("*.partial*"))


def test_embed_resumes_a_partial_output_and_refuses_another_commands(trained_bi_encoder, tmp_path, monkeypatch):
    from scl_trainer import embed as embed_module

    _, out = trained_bi_encoder
    texts = tmp_path / "texts.tsv"
    texts.write_text("text\n" + "".join(f"{t}\n" for t in toy_pairs(9, seed=4)["text_a"]))
    output = tmp_path / "vectors.npy"
    args = EmbedArguments(model=str(out), input=str(texts), output=str(output), window_size=4)
    calls = []
    original = embed_module.encode_texts

    def dies_on_the_second_window(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return original(*a, **k)

    monkeypatch.setattr(embed_module, "encode_texts", dies_on_the_second_window)
    with pytest.raises(KeyboardInterrupt):
        embed(args)
    assert not output.exists() and (tmp_path / "vectors.npy.partial").is_file()
    monkeypatch.setattr(embed_module, "encode_texts", original)
    other = EmbedArguments(model=str(out), input=str(texts), output=str(output), text_column="text", max_length=8,
                           resume=True)  # fmt: skip
    with pytest.raises(OutputDirError, match="written by another command"):
        embed(other)
    args.resume = True
    assert embed(args) == 9
    fresh = tmp_path / "fresh.npy"
    embed(EmbedArguments(model=str(out), input=str(texts), output=str(fresh)))
    np.testing.assert_allclose(np.load(output), np.load(fresh), atol=1e-6)
    assert ids_path(output).read_text().split() == [str(i) for i in range(9)]


def run_cli(*args, cwd=REPO_ROOT):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True)


def test_bad_input_is_a_one_line_error(tmp_path, classifier_dir, data_dir):
    texts = tmp_path / "t.tsv"
    texts.write_text("text\nhello world\n")
    done = run_cli("-m", "scl_trainer", "embed", "--model", str(classifier_dir), "--input", str(texts), "--output",
                   str(tmp_path / "o.npy"))  # fmt: skip
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "a cross-encoder pair classifier" in done.stderr
    done = run_cli("recipes/supcon_pair.py", "--config", "recipes/supcon_pair/mrpc_minilm.yaml", "--architecture",
                   "siamese", "--data_dir", str(data_dir), "--output_dir", str(tmp_path / "x"))  # fmt: skip
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0
    assert "architecture" in done.stderr and "bi_encoder" in done.stderr and not (tmp_path / "x").exists()


def test_as_bi_encoder_without_sentence_transformers_files_mean_pools(tiny_encoder_dir):
    model = as_bi_encoder(AutoModel.from_pretrained(tiny_encoder_dir), tiny_encoder_dir)
    assert isinstance(model, BiEncoderPairClassifier) and model.pooler == "mean" and not model.normalize


def test_a_model_below_the_zero_shot_cosine_is_warned_about_in_the_log_and_the_card(
    tmp_path, tiny_classifier, tiny_tokenizer, caplog
):
    """A cross-encoder whose validation ROC-AUC (scripted: 0) is below the untouched encoder's cosine."""
    trainer = SCLTrainer(
        tiny_classifier,
        config(tmp_path, eval_strategy="steps", eval_steps=2, threshold_min_per_class=2),
        train_dataset=toy_pairs(24, seed=1),
        eval_dataset=toy_pairs(16, seed=2),
        processing_class=tiny_tokenizer,
        compute_metrics=lambda p: {**pair_classification_metrics(p, min_per_class=2), "roc_auc": 0.0},
    )
    with caplog.at_level("WARNING"):
        trainer.train()
    assert trainer.baselines["baseline_zero_shot_roc_auc"] > 0 and trainer.below_zero_shot
    assert "ranks the validation pairs worse than the untouched encoder" in caplog.text
    metrics = trainer.evaluate()
    assert metrics["baseline_majority_f1"] == trainer.baselines["baseline_majority_f1"]
    trainer.create_model_card(dataset_name="toy")
    card = (tmp_path / "out" / "README.md").read_text()
    assert "this model ranks the validation pairs worse than the untouched base encoder" in card
    assert "| zero_shot_roc_auc |" in card
