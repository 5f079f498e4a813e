"""SimCSETrainer: duplicated batches, dropout views, the loss it optimises, evaluation, export and loading."""

import json

import numpy as np
import pytest
import torch
from datasets import Dataset
from scipy.stats import pearsonr, spearmanr
from sentence_transformers import SentenceTransformer
from transformers import AutoModel, BertModel, EvalPrediction

from scl_trainer import SimCSEConfig, SimCSELoss, SimCSETrainer
from scl_trainer.collators import SimCSECollator
from scl_trainer.errors import DataError
from scl_trainer.export import SentencePooling, read_sentence_pooling, write_sentence_transformers_config
from scl_trainer.metrics import sts_metrics
from scl_trainer.sentence_data import load_sentences, load_stsb
from scl_trainer.simcse_model import MLP_WEIGHTS_NAME, SimCSEModel
from scl_trainer.tokenization import tokenize_sentences
from tests.helpers import tiny_bert_config

WORDS = "the house near school good room price floor new city market company report year people share".split()


def sentences(n=48, seed=0) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    texts = [" ".join(WORDS[i] for i in torch.randint(len(WORDS), (6,), generator=g)) for _ in range(n)]
    return Dataset.from_dict({"text": list(dict.fromkeys(texts))})


def sts_pairs(n=24, seed=1) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    rows = {"sentence1": [], "sentence2": [], "score": []}
    for _ in range(n):
        a = [WORDS[i] for i in torch.randint(len(WORDS), (5,), generator=g)]
        keep = int(torch.randint(6, (1,), generator=g))
        b = a[:keep] + [WORDS[i] for i in torch.randint(len(WORDS), (5 - keep,), generator=g)]
        rows["sentence1"].append(" ".join(a))
        rows["sentence2"].append(" ".join(b))
        rows["score"].append(float(keep))
    return Dataset.from_dict(rows)


def config(tmp_path, **overrides) -> SimCSEConfig:
    values = dict(
        output_dir=str(tmp_path / "out"),
        per_device_train_batch_size=8,
        per_device_eval_batch_size=8,
        max_steps=4,
        learning_rate=1e-3,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=3,
        max_length=16,
        eval_max_length=32,
        disable_tqdm=True,
    )
    values.update(overrides)
    return SimCSEConfig(**values)


@pytest.fixture
def tiny_encoder():
    torch.manual_seed(0)
    return BertModel(tiny_bert_config())


def test_collator_duplicates_each_sentence_in_place(tiny_tokenizer):
    tokenized, _ = tokenize_sentences(sentences(5), tiny_tokenizer, max_length=16)
    features = [tokenized[i] for i in range(5)]
    batch = SimCSECollator(tiny_tokenizer)(features)
    assert batch["input_ids"].shape[0] == 10
    for i, feature in enumerate(features):
        for row in (2 * i, 2 * i + 1):
            ids = batch["input_ids"][row][batch["attention_mask"][row].bool()].tolist()
            assert ids == feature["input_ids"]


def test_two_views_differ_in_train_mode_and_match_in_eval_mode(tiny_encoder, tiny_tokenizer):
    tokenized, _ = tokenize_sentences(sentences(4), tiny_tokenizer, max_length=16)
    batch = SimCSECollator(tiny_tokenizer)([tokenized[i] for i in range(4)])
    model = SimCSEModel(tiny_encoder, "cls")
    model.train()
    train_views = model(**batch).view(4, 2, -1)
    assert not torch.allclose(train_views[:, 0], train_views[:, 1])
    model.eval()
    with torch.no_grad():
        eval_views = model(**batch).view(4, 2, -1)
    torch.testing.assert_close(eval_views[:, 0], eval_views[:, 1], rtol=0, atol=0)


def test_refuses_encoder_without_dropout(tmp_path, tiny_tokenizer):
    encoder = BertModel(tiny_bert_config(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))
    with pytest.raises(ValueError, match="SimCSE needs dropout"):
        SimCSETrainer(encoder, config(tmp_path), processing_class=tiny_tokenizer)


def test_compute_loss_is_simcse_over_pooled_mlp_views(tmp_path, tiny_encoder, tiny_tokenizer):
    trainer = SimCSETrainer(
        tiny_encoder, config(tmp_path, temperature=0.1), train_dataset=sentences(16), processing_class=tiny_tokenizer
    )
    batch = next(iter(trainer.get_train_dataloader()))
    model = trainer.model.train()
    torch.manual_seed(11)
    loss = trainer.compute_loss(model, batch)
    # Reference built from the parts: same dropout masks (same seed), [CLS] of the last layer, then the MLP.
    torch.manual_seed(11)
    hidden = model.encoder(**batch).last_hidden_state
    expected = SimCSELoss(0.1)(model.mlp(hidden[:, 0]))
    assert loss.item() == pytest.approx(expected.item(), abs=1e-6)


def test_every_trained_parameter_changes(tmp_path, tiny_encoder, tiny_tokenizer):
    trainer = SimCSETrainer(tiny_encoder, config(tmp_path), train_dataset=sentences(), processing_class=tiny_tokenizer)
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    for name, param in trainer.model.named_parameters():
        if name.startswith("encoder.pooler."):
            # BERT's own pooler (NSP head) is not used by any SimCSE pooler: no gradient, no change.
            assert torch.equal(param, before[name]), name
        else:
            assert not torch.allclose(param, before[name]), f"{name} did not change"


def test_sts_metrics_match_scipy():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(30, 2, 8))
    scores = rng.uniform(0, 5, size=30)
    metrics = sts_metrics(EvalPrediction(predictions=embeddings, label_ids=scores))
    a, b = embeddings[:, 0], embeddings[:, 1]
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert metrics["spearman"] == pytest.approx(spearmanr(cosine, scores).statistic * 100)
    assert metrics["pearson"] == pytest.approx(pearsonr(cosine, scores).statistic * 100)


@pytest.mark.parametrize("pooler", ["cls", "cls_before_pooler", "mean"])
def test_export_loads_with_automodel_and_sentence_transformers_same_embeddings(
    tmp_path, tiny_encoder, tiny_tokenizer, pooler
):
    trainer = SimCSETrainer(
        tiny_encoder,
        config(tmp_path, pooler=pooler, max_steps=2),
        train_dataset=sentences(),
        eval_dataset=sts_pairs(),
        processing_class=tiny_tokenizer,
    )
    trainer.train()
    out = tmp_path / "out"
    trainer.save_model()
    assert (out / MLP_WEIGHTS_NAME).exists() == (pooler == "cls")

    # What the evaluation scored: the trainer's own embeddings of the STS sentences (eval mode).
    eval_dataset = trainer.eval_dataset
    predictions = trainer.predict(eval_dataset).predictions  # (N, 2, H)

    encoder, load_info = AutoModel.from_pretrained(out, output_loading_info=True)
    assert not any(load_info[k] for k in ("missing_keys", "unexpected_keys", "mismatched_keys")), load_info
    for name, param in encoder.state_dict().items():
        torch.testing.assert_close(param, trainer.model.encoder.state_dict()[name])

    st_model = SentenceTransformer(str(out), device="cpu")
    assert st_model.max_seq_length == 32
    pairs = sts_pairs()
    st_embeddings = st_model.encode(pairs["sentence1"], convert_to_numpy=True, batch_size=5)
    np.testing.assert_allclose(st_embeddings, predictions[:, 0], atol=1e-5, rtol=1e-5)

    modules = json.loads((out / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[-1] for m in modules] == ["Transformer", "Pooling"]


def test_resume_restores_the_training_only_mlp(tmp_path, tiny_encoder, tiny_tokenizer):
    trainer = SimCSETrainer(
        tiny_encoder,
        config(tmp_path, max_steps=2, save_strategy="steps", save_steps=2),
        train_dataset=sentences(),
        processing_class=tiny_tokenizer,
    )
    trainer.train()
    trained_mlp = {k: v.clone() for k, v in trainer.model.mlp.state_dict().items()}
    torch.manual_seed(5)
    fresh = SimCSETrainer(
        BertModel(tiny_bert_config()), config(tmp_path), train_dataset=sentences(), processing_class=tiny_tokenizer
    )
    fresh._load_from_checkpoint(str(tmp_path / "out" / "checkpoint-2"))
    for key, value in trained_mlp.items():
        torch.testing.assert_close(fresh.model.mlp.state_dict()[key], value, rtol=0, atol=0)
    for key, value in trainer.model.encoder.state_dict().items():
        torch.testing.assert_close(fresh.model.encoder.state_dict()[key], value, rtol=0, atol=0)


def test_evaluation_reports_spearman_and_picks_best_checkpoint(tmp_path, tiny_encoder, tiny_tokenizer):
    trainer = SimCSETrainer(
        tiny_encoder,
        config(
            tmp_path,
            pooler="mean",  # the [CLS] vectors of a random tiny BERT are nearly identical: no ranking to score
            learning_rate=1e-4,
            max_steps=4,
            eval_strategy="steps",
            eval_steps=2,
            save_strategy="steps",
            save_steps=2,
            load_best_model_at_end=True,
        ),
        train_dataset=sentences(),
        eval_dataset=sts_pairs(),
        processing_class=tiny_tokenizer,
    )
    trainer.train()
    evals = {log["step"]: log["eval_spearman"] for log in trainer.state.log_history if "eval_spearman" in log}
    assert set(evals) == {0, 2, 4}  # step 0: the untouched model is a candidate too
    best_step = max(evals, key=evals.get)
    assert trainer.state.best_model_checkpoint.endswith(f"checkpoint-{best_step}")
    assert trainer.evaluate()["eval_spearman"] == pytest.approx(evals[best_step], abs=1e-6)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"pooler": "max"}, "pooler must be one of"),
        ({"mlp_init": "xavier"}, "mlp_init must be one of"),
        ({"max_length": 1}, "max_length must be >= 2"),
    ],
)
def test_config_validation(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        config(tmp_path, **overrides)


def test_rejects_max_length_above_model_limit(tmp_path, tiny_encoder, tiny_tokenizer):
    with pytest.raises(ValueError, match=r"eval_max_length=512 is above the limit"):
        SimCSETrainer(tiny_encoder, config(tmp_path, eval_max_length=512), processing_class=tiny_tokenizer)


# ---- STS-B and sentence corpora ----


def test_stsb_row_counts_and_nine_field_rows(data_dir):
    counts = {split: len(load_stsb(data_dir, split)) for split in ("train", "validation", "test")}
    assert counts == {"train": 5_749, "validation": 1_500, "test": 1_379}
    dev = load_stsb(data_dir, "validation")
    lines = (data_dir / "stsbenchmark" / "sts-dev.csv").read_text(encoding="utf-8").splitlines()
    nine = next(i for i, line in enumerate(lines) if len(line.split("\t")) == 9)
    fields = lines[nine].split("\t")
    assert dev[nine] == {"sentence1": fields[5], "sentence2": fields[6], "score": float(fields[4])}
    assert all(0.0 <= s <= 5.0 for s in dev["score"])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("g\tf\t2012\t1\tfive\ta\tb", r"row 2, column 'score': not a number: 'five'"),
        ("g\tf\t2012\t1\t5.5\ta\tb", r"row 2, column 'score': must be within \[0, 5\], got '5.5'"),
        ("g\tf\t2012\t1\tnan\ta\tb", r"row 2, column 'score': must be within \[0, 5\], got 'nan'"),
        ("g\tf\t2012\t1\t3.0\ta", r"row 2: expected 7 tab-separated fields"),
        ("g\tf\t2012\t1\t3.0\t \tb", r"row 2, column 'sentence1': empty"),
    ],
)
def test_stsb_bad_rows(tmp_path, line, message):
    (tmp_path / "stsbenchmark").mkdir()
    (tmp_path / "stsbenchmark" / "sts-dev.csv").write_text(f"g\tf\t2012\t0\t1.0\tx\ty\n{line}\n", encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_stsb(tmp_path, "validation")


def test_sentence_corpus_drops_empty_and_duplicate_lines(tmp_path, data_dir):
    path = tmp_path / "corpus.txt"
    path.write_text("a cat\n\nthe dog\na cat\n   \nthe dog\nbirds\n", encoding="utf-8")
    assert load_sentences(str(path))["text"] == ["a cat", "the dog", "birds"]
    stsb = load_sentences("stsb", data_dir)
    train = load_stsb(data_dir, "train")
    assert stsb["text"] == list(dict.fromkeys(t for pair in zip(train["sentence1"], train["sentence2"]) for t in pair))


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_sentence_corpus_from_a_file_column(tmp_path, suffix):
    path = tmp_path / f"corpus{suffix}"
    rows = [("1", "a cat"), ("2", ""), ("3", "the dog"), ("4", "a cat"), ("5", "  ")]
    if suffix == ".csv":
        path.write_text("id,sentence\n" + "".join(f'{i},"{t}"\n' for i, t in rows), encoding="utf-8")
    else:
        path.write_text("".join(json.dumps({"id": i, "sentence": t}) + "\n" for i, t in rows), encoding="utf-8")
    assert load_sentences(str(path), column="sentence")["text"] == ["a cat", "the dog"]
    with pytest.raises(DataError, match=rf"corpus\{suffix}, row 1, column 'text': column not found"):
        load_sentences(str(path))


def test_sentence_corpus_from_a_dataset_repository(tmp_path):
    """A Hub id goes through `datasets.load_dataset(source, config, split=...)`; a local dataset folder takes the same
    path offline."""
    repo = tmp_path / "corpus-repo"
    Dataset.from_dict({"sentence": ["x y", "", "z", "x y"], "n": [1, 2, 3, 4]}).to_json(repo / "train.jsonl")
    Dataset.from_dict({"sentence": ["held out"], "n": [5]}).to_json(repo / "test.jsonl")
    assert load_sentences(str(repo), column="sentence")["text"] == ["x y", "z"]
    assert load_sentences(str(repo), column="sentence", split="test")["text"] == ["held out"]
    with pytest.raises(DataError, match=r"corpus-repo, column 'text': column not found; the columns are"):
        load_sentences(str(repo))
    with pytest.raises(DataError, match=r"corpus-repo, row 1, column 'n': expected text, got int 1"):
        load_sentences(str(repo), column="n")


def test_single_sentence_batch_gives_zero_loss(tmp_path, tiny_encoder, tiny_tokenizer):
    """B = 1: the only candidate of each view is the other view: loss exactly 0, no negatives, nothing learned."""
    trainer = SimCSETrainer(tiny_encoder, config(tmp_path), processing_class=tiny_tokenizer)
    tokenized, _ = tokenize_sentences(sentences(1), tiny_tokenizer, 16)
    batch = SimCSECollator(tiny_tokenizer)([tokenized[0]])
    loss = trainer.compute_loss(trainer.model.train(), batch)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    assert trainer._metrics["train"]["negatives_per_anchor"][-1].item() == 0


def test_duplicate_sentences_in_a_batch_are_masked_and_counted(tmp_path, tiny_encoder, tiny_tokenizer):
    trainer = SimCSETrainer(tiny_encoder, config(tmp_path), processing_class=tiny_tokenizer)
    texts = ["the house near school", "good room price", "the house near school"]
    tokenized, _ = tokenize_sentences(Dataset.from_dict({"text": texts}), tiny_tokenizer, 16)
    batch = SimCSECollator(tiny_tokenizer)([tokenized[i] for i in range(3)])
    model = trainer.model.train()
    torch.manual_seed(0)
    masked = trainer.compute_loss(model, batch)
    # 4 rows show the repeated sentence; each masks the 2 rows of its twin
    assert trainer._metrics["train"]["masked_duplicates"][-1].item() == 4 * 2
    assert trainer._metrics["train"]["negatives_per_anchor"][-1].item() == pytest.approx((2 * 4 + 4 * 2) / 6)
    trainer.args.mask_duplicates = False
    torch.manual_seed(0)
    unmasked = trainer.compute_loss(model, batch)
    assert unmasked.item() > masked.item()  # the twins were counted as (hard) negatives


def test_mlp_init_normal_or_orthogonal(tiny_encoder):
    normal = SimCSEModel(tiny_encoder, "cls", "normal").mlp[0].weight.detach()
    assert normal.std().item() == pytest.approx(0.02, rel=0.2)
    rotation = SimCSEModel(tiny_encoder, "cls", "orthogonal").mlp[0].weight.detach()
    torch.testing.assert_close(rotation @ rotation.T, torch.eye(rotation.size(0)), atol=1e-5, rtol=0)
    assert SimCSEModel(tiny_encoder, "mean").mlp is None


# ---- The base model is the baseline: step-0 candidate, its own pooling, Normalize kept ----


def scripted_spearman(values):
    """compute_metrics whose Spearman follows `values` call by call (the other metrics are real): a deterministic
    "training never beats the base" (or does) scenario, independent of what a tiny model learns."""
    calls = iter(values)

    def compute(eval_pred):
        return {**sts_metrics(eval_pred), "spearman": next(calls)}

    return compute


@pytest.mark.parametrize("allow_regression", [False, True])
def test_untouched_model_competes_at_step_0_and_is_kept_when_never_beaten(
    tmp_path, tiny_encoder, tiny_tokenizer, allow_regression, caplog
):
    base = {k: v.clone() for k, v in tiny_encoder.state_dict().items()}
    steps = dict(max_steps=4, eval_strategy="steps", eval_steps=2, save_strategy="steps", save_steps=2)
    trainer = SimCSETrainer(
        tiny_encoder,
        config(tmp_path, **steps, load_best_model_at_end=True, save_total_limit=1, allow_regression=allow_regression),
        train_dataset=sentences(),
        eval_dataset=sts_pairs(),
        processing_class=tiny_tokenizer,
        compute_metrics=scripted_spearman([50.0, 10.0, 20.0] if not allow_regression else [10.0, 20.0]),
    )
    with caplog.at_level("WARNING"):
        trainer.train()
    evals = {log["step"]: log["eval_spearman"] for log in trainer.state.log_history if "eval_spearman" in log}
    encoder = trainer.model.encoder.state_dict()
    if allow_regression:  # only trained checkpoints compete: the better of the two is kept, worse than nothing
        assert evals == {2: 10.0, 4: 20.0} and trainer.state.best_model_checkpoint.endswith("checkpoint-4")
        assert not trainer.kept_base_model and not all(torch.equal(encoder[k], v) for k, v in base.items())
    else:  # the untouched model scored 50 at step 0, training never beat it: it is what is kept
        assert evals == {0: 50.0, 2: 10.0, 4: 20.0} and trainer.state.best_model_checkpoint.endswith("checkpoint-0")
        assert trainer.kept_base_model and "training never beat the untouched model" in caplog.text
        assert all(torch.equal(encoder[k], v) for k, v in base.items())
        assert (tmp_path / "out" / "checkpoint-0").is_dir()  # kept by the rotation (save_total_limit=1) as the best


def test_a_better_trained_checkpoint_replaces_the_step_0_candidate(tmp_path, tiny_encoder, tiny_tokenizer):
    steps = dict(max_steps=4, eval_strategy="steps", eval_steps=2, save_strategy="steps", save_steps=2)
    trainer = SimCSETrainer(
        tiny_encoder,
        config(tmp_path, **steps, load_best_model_at_end=True),
        train_dataset=sentences(),
        eval_dataset=sts_pairs(),
        processing_class=tiny_tokenizer,
        compute_metrics=scripted_spearman([10.0, 30.0, 20.0]),
    )
    trainer.train()
    assert trainer.state.best_model_checkpoint.endswith("checkpoint-2") and not trainer.kept_base_model


@pytest.fixture
def sentence_transformers_encoder_dir(tmp_path, tiny_encoder, tiny_tokenizer):
    """A tiny encoder saved as a sentence-transformers model with mean pooling + Normalize (as all-MiniLM-L6-v2)."""
    path = tmp_path / "st-base"
    tiny_encoder.save_pretrained(path)
    tiny_tokenizer.save_pretrained(path)
    write_sentence_transformers_config(str(path), "mean", 32, 32, normalize=True)
    return path


def test_base_pooling_is_read_and_gives_the_baseline_rows(sentence_transformers_encoder_dir, tmp_path, tiny_tokenizer):
    path = sentence_transformers_encoder_dir
    assert read_sentence_pooling(str(path)) == SentencePooling("mean", True)
    trainer = SimCSETrainer(
        AutoModel.from_pretrained(path), config(tmp_path, pooler="cls"), processing_class=tiny_tokenizer
    )
    assert trainer.base_pooling == SentencePooling("mean", True) and trainer.normalize
    pairs = sts_pairs()
    metrics = trainer.evaluate_base({"dev": pairs})

    # The reference: sentence-transformers itself, loading the base folder with its own modules.
    st_base = SentenceTransformer(str(path), device="cpu")
    a, b = (st_base.encode(pairs[c], convert_to_numpy=True) for c in ("sentence1", "sentence2"))
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)  # Normalize is part of the base
    # Pearson: the near-tied cosines of a random tiny model make Spearman flip on float noise, Pearson does not.
    expected = pearsonr((a * b).sum(1), pairs["score"]).statistic * 100
    assert metrics["base_native_dev_pearson"] == pytest.approx(expected, abs=1e-3)
    # ... and the pooling being trained (raw [CLS], nearly constant in a random tiny BERT) as its own row.
    assert {"base_dev_spearman", "base_dev_pearson"} <= metrics.keys()
    assert metrics["base_dev_alignment"] < metrics["base_native_dev_alignment"]
    assert trainer.model.pooler == "cls"  # evaluating the baseline did not change the pooling being trained


def test_export_keeps_normalize_of_the_base(sentence_transformers_encoder_dir, tmp_path, tiny_tokenizer):
    trainer = SimCSETrainer(
        AutoModel.from_pretrained(sentence_transformers_encoder_dir),
        config(tmp_path, pooler="cls", max_steps=2),
        train_dataset=sentences(),
        processing_class=tiny_tokenizer,
    )
    trainer.train()
    trainer.save_model()
    out = tmp_path / "out"
    modules = json.loads((out / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[-1] for m in modules] == ["Transformer", "Pooling", "Normalize"]
    assert read_sentence_pooling(str(out)) == SentencePooling("cls", True)
    st_model = SentenceTransformer(str(out), device="cpu")
    texts = sts_pairs()["sentence1"][:6]
    vectors = st_model.encode(texts, convert_to_numpy=True)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    with torch.no_grad():
        cls = (
            trainer.model.eval()
            .encoder(**tiny_tokenizer(texts, padding=True, return_tensors="pt"))
            .last_hidden_state[:, 0]
        )
    np.testing.assert_allclose(vectors, torch.nn.functional.normalize(cls, dim=-1).numpy(), atol=1e-5)


def test_the_default_pooler_is_the_base_models_own(tmp_path, tiny_encoder_dir, tiny_tokenizer):
    """No `pooler` given: a sentence-transformers base model keeps the pooling it declares (mean for MiniLM, [CLS]
    without MLP for a CLS-pooled one), a plain BERT gets the paper's [CLS] + training-only MLP; the learning rate
    default is the one chosen on dev."""
    assert SimCSEConfig(output_dir=str(tmp_path), report_to="none").learning_rate == 1e-5
    expected = {}
    for name, declared in (("mean-st", "mean"), ("cls-st", "cls"), ("plain", None)):
        path = tmp_path / name
        BertModel(tiny_bert_config()).save_pretrained(path)
        tiny_tokenizer.save_pretrained(path)
        if declared:
            write_sentence_transformers_config(str(path), declared, 32, 32, normalize=True)
        expected[str(path)] = {"mean": "mean", "cls": "cls_before_pooler", None: "cls"}[declared]
    for path, pooler in expected.items():
        args = config(tmp_path)
        assert args.pooler is None
        trainer = SimCSETrainer(path, args, train_dataset=sentences(16))
        assert trainer.args.pooler == pooler and trainer.model.pooler == pooler
        assert (trainer.model.mlp is not None) == (pooler == "cls")
    given = SimCSETrainer(str(tmp_path / "mean-st"), config(tmp_path, pooler="cls"), train_dataset=sentences(16))
    assert given.model.pooler == "cls"  # an explicit choice wins
