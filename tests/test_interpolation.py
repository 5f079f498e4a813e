"""WiSE-FT for SimCSE (`--interpolate`): the interpolation is exact at its ends (a = 0 gives the base model's
embeddings, a = 1 the trained model's), the rule that picks `a`, and a bad value is one line."""

import subprocess
import sys

import pytest
import torch
from transformers import AutoModel

from scl_trainer import SimCSEConfig, SimCSETrainer
from scl_trainer.errors import ConfigError
from scl_trainer.interpolation import choose_coefficient, interpolated_state, parse_interpolate
from tests.helpers import REPO_ROOT, save_st_encoder


def sts_pairs(n=12):
    from datasets import Dataset

    words = "the cat dog sat ran on a mat big small house".split()
    g = torch.Generator().manual_seed(0)
    rows = [
        [" ".join(words[i] for i in torch.randint(len(words), (5,), generator=g)) for _ in range(2)] for _ in range(n)
    ]
    return Dataset.from_dict({"sentence1": [a for a, _ in rows], "sentence2": [b for _, b in rows],
                              "score": [float(i % 6) for i in range(n)]})  # fmt: skip


def sentences(n=32):
    from datasets import Dataset

    return Dataset.from_dict(
        {"text": [" ".join(pair) for pair in zip(sts_pairs(n)["sentence1"], sts_pairs(n)["sentence2"])]}
    )


@pytest.fixture
def trained(tmp_path, tiny_tokenizer):
    base = save_st_encoder(tmp_path / "st", tiny_tokenizer)

    def run(interpolate):
        config = SimCSEConfig(output_dir=str(tmp_path / f"out-{interpolate}"), max_steps=3, learning_rate=1e-2,
                              per_device_train_batch_size=8, save_strategy="no", report_to="none", use_cpu=True,
                              disable_tqdm=True, interpolate=interpolate, seed=1)  # fmt: skip
        trainer = SimCSETrainer(base, config, train_dataset=sentences(), eval_dataset=sts_pairs())
        trainer.train()
        return trainer

    return base, run


def embeddings(encoder, tokenizer, texts):
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = encoder.eval()(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    return (hidden * mask).sum(1) / mask.sum(1)


@pytest.mark.parametrize("a", ["0", "1"])
def test_the_ends_are_the_base_and_the_trained_model_exactly(trained, tiny_tokenizer, a):
    base_dir, run = trained
    trainer = run(a)
    encoder = trainer.model.encoder
    trained_state = {k: v.clone() for k, v in encoder.state_dict().items()}
    metrics = trainer.choose_interpolation({"dev": sts_pairs()})
    assert metrics["interpolation_a"] == float(a) and trainer.interpolation["chosen"] == float(a)
    texts = ["the cat sat on a mat", "a big house"]
    reference = AutoModel.from_pretrained(base_dir) if a == "0" else None
    if reference is not None:
        assert torch.equal(embeddings(encoder, tiny_tokenizer, texts), embeddings(reference, tiny_tokenizer, texts))
    else:
        assert all(torch.equal(v, trained_state[k]) for k, v in encoder.state_dict().items())
    assert any(not torch.equal(v, trainer._base_state[k]) for k, v in trained_state.items())  # it did train
    said = trainer.describe_export()  # the recipe's log never calls a = 0's base weights "trained"
    assert said == ("the base model's weights: the interpolation chose a = 0" if a == "0" else "trained")


def test_interpolated_state_is_the_weighted_mean_and_keeps_integer_tensors():
    base = {"w": torch.tensor([1.0, 2.0]), "ids": torch.tensor([0, 1])}
    trained = {"w": torch.tensor([3.0, 6.0]), "ids": torch.tensor([0, 1])}
    assert torch.allclose(interpolated_state(base, trained, 0.25)["w"], torch.tensor([1.5, 3.0]))
    assert torch.equal(interpolated_state(base, trained, 0.0)["w"], base["w"])
    assert torch.equal(interpolated_state(base, trained, 1.0)["w"], trained["w"])
    assert interpolated_state(base, trained, 0.5)["ids"].dtype == torch.int64


def test_the_rule_is_the_best_in_domain_among_those_not_below_the_base_out_of_domain():
    scores = {0.0: {"dev": 80.0, "ood": 70.0}, 0.5: {"dev": 82.0, "ood": 70.5}, 1.0: {"dev": 83.0, "ood": 69.0}}
    assert choose_coefficient(scores, "dev", "ood") == 0.5  # 1.0 is best in domain but below the base out of it
    assert choose_coefficient(scores, "dev", None) == 1.0
    tied = {0.0: {"dev": 80.0}, 0.3: {"dev": 81.0}, 0.7: {"dev": 81.0}}
    assert choose_coefficient(tied, "dev", None) == 0.3  # a tie goes to the smaller a
    assert parse_interpolate("auto") == tuple(i / 10 for i in range(11)) and parse_interpolate("none") is None


def test_a_bad_interpolate_value_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match=r"interpolate must be auto, none or a number in \[0, 1\], got '1.5'"):
        SimCSEConfig(output_dir=str(tmp_path), interpolate="1.5")
    done = subprocess.run([sys.executable, "recipes/simcse_unsup.py", "--interpolate", "half", "--output_dir",
                           str(tmp_path / "o")], cwd=REPO_ROOT, capture_output=True, text=True)  # fmt: skip
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 2 and len(errors) == 1 and "interpolate must be auto, none or a number" in errors[0]


@pytest.mark.parametrize("interpolate", ["auto", "none"])
def test_the_held_out_sick_pairs_are_scored_with_or_without_interpolation(tmp_path, interpolate):
    """`ood_test` (SICK pairs never used to choose) is loaded for every run, so an interpolated run and a plain one
    are paired on the same rows; `ood` (the choice's pairs) only when a coefficient is chosen; the two are disjoint."""
    from tests.helpers import load_recipe

    recipe = load_recipe("simcse_unsup")
    rows = [f"{i}\ta man plays {i}\ta person plays {i + 1}\t{1 + (i % 9) / 2}\tNEUTRAL" for i in range(40)]
    (tmp_path / "sick").mkdir()
    (tmp_path / "sick" / "sick_train.tsv").write_text(
        "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment\n" + "\n".join(rows) + "\n"
    )
    script = recipe.ScriptArguments(data_dir=str(tmp_path), ood_pairs=10)
    ood = recipe.load_out_of_domain(script, SimCSEConfig(output_dir=str(tmp_path / "o"), interpolate=interpolate))
    assert sorted(ood) == (["ood", "ood_test"] if interpolate == "auto" else ["ood_test"])
    assert len(ood["ood_test"]) == 30
    if interpolate == "auto":
        assert len(ood["ood"]) == 10
        assert not {tuple(r.values()) for r in ood["ood"]} & {tuple(r.values()) for r in ood["ood_test"]}
