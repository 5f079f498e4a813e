"""One small run of every card kind, for the tests that read cards (`test_inert_text`, `test_card_facts`)."""

import torch
from datasets import Dataset

from scl_trainer import SCLConfig, SCLTrainer, SimCSEConfig, SimCSETrainer

# kind -> (architecture, input, number of classes); "simcse" is SimCSE's card.
CARDS = {
    "pair_cross": ("cross_encoder", "pair", 2),
    "pair_bi": ("bi_encoder", "pair", 2),
    "single_binary": ("cross_encoder", "single", 2),
    "k_single": ("cross_encoder", "single", 3),
    "k_pairs": ("cross_encoder", "pair", 3),
    "embedding": ("embedding", "single", 3),
    "embedding_pairs": ("embedding", "pair", 3),
}
CARD_KINDS = [*CARDS, "simcse"]


def words(n: int, seed: int) -> list[str]:
    vocab = "the house near school good room price floor new city market company report year people share".split()
    g = torch.Generator().manual_seed(seed)
    return [" ".join(vocab[i] for i in torch.randint(len(vocab), (5,), generator=g)) for _ in range(n)]


def data(kind: str, n: int = 12) -> Dataset:
    _, text_input, k = CARDS[kind]
    labels = [i % k for i in range(n)]
    if text_input == "single":
        return Dataset.from_dict({"text": words(n, 0), "label": labels})
    return Dataset.from_dict({"text_a": words(n, 1), "text_b": words(n, 2), "label": labels})


def train_for_card(kind: str, folder, names: list[str], encoder: str, st_dir: str, evaluate: bool = False):
    """A trainer of `kind` after one (or, with `evaluate`, two evaluated) optimizer steps on a tiny model."""
    common = dict(output_dir=str(folder), report_to="none", max_steps=2 if evaluate else 1, disable_tqdm=True,
                  save_strategy="no", per_device_train_batch_size=6, per_device_eval_batch_size=6,
                  max_length=16)  # fmt: skip
    if evaluate:
        common.update(eval_strategy="steps", eval_steps=1, logging_steps=1)
    if kind == "simcse":
        sentences = Dataset.from_dict({"text": words(12, 3)})
        pairs = words(8, 4)
        scored = {"sentence1": pairs[:4], "sentence2": pairs[4:], "score": [0.5, 4.0, 2.5, 1.0]}
        eval_dataset = Dataset.from_dict(scored) if evaluate else None
        trainer = SimCSETrainer(st_dir, SimCSEConfig(**common), train_dataset=sentences, eval_dataset=eval_dataset)
    else:
        architecture, _, k = CARDS[kind]
        evaluation = {} if evaluate else {"eval_strategy": "no"}
        args = SCLConfig(**{**common, **evaluation}, architecture=architecture, label_names=names[:k])
        base = st_dir if architecture != "cross_encoder" else encoder
        trainer = SCLTrainer(base, args, train_dataset=data(kind), eval_dataset=data(kind))
    trainer.train()
    return trainer


def write_card(kind: str, folder, names: list[str], name: str, encoder: str, st_dir: str, report: str) -> str:
    trainer = train_for_card(kind, folder, names, encoder, st_dir)
    trainer.create_model_card(model_name=name, dataset_name=name, compare_report=report)
    return (folder / "README.md").read_text(encoding="utf-8")
