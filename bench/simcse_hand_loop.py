"""Reference for the SimCSE recipe: a deliberately plain PyTorch loop with the seed's loss, same budget.

The SimCSE issue quotes "a 60-line hand-written loop with the seed's loss" as the level the recipe must match. This
is such a loop, written to have nothing in common with `SimCSETrainer` except the data loaders: the offline
all-MiniLM-L6-v2, the unique STS-B train sentences shuffled once, batches of 64 sentences each duplicated in place
(`[a, a, b, b, ...]`), max length 32, the raw [CLS] vector (no MLP), the seed's loss written out inline (cosine
matrix x 20, diagonal minus 1e12 in float32, cross-entropy with the other view as target), AdamW lr 3e-5 with
linear decay to 0, gradient clipping at 1.0, one epoch. It scores the final weights on STS-B test (Spearman x100 of
the cosine of [CLS] vectors, max length 128), like the recipe's evaluation.

    python bench/simcse_hand_loop.py --seed 42

Appends one line per run to bench/results/simcse_hand_loop.jsonl.
"""

import random
import sys
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from results_io import save_result
from scipy.stats import spearmanr
from transformers import AutoModel, AutoTokenizer, HfArgumentParser

from scl_trainer.records import DEFAULT_DATA_DIR
from scl_trainer.sentence_data import load_sentences, load_stsb
from scl_trainer.utils import resolve_model_name_or_path


@dataclass
class LoopArguments:
    seed: int = field(default=42, metadata={"help": "Seeds torch (dropout) and the shuffle."})
    data_dir: str = field(default=DEFAULT_DATA_DIR, metadata={"help": "Folder holding stsbenchmark/."})
    threads: int = field(default=2, metadata={"help": "torch threads."})


def main(args: LoopArguments) -> float:
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    path = resolve_model_name_or_path("sentence-transformers/all-MiniLM-L6-v2")
    tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path)
    sentences = list(load_sentences("stsb", args.data_dir)["text"])
    test = load_stsb(args.data_dir, "test")

    @torch.no_grad()
    def embed(texts):
        model.eval()
        batches = [texts[i : i + 128] for i in range(0, len(texts), 128)]
        encoded = (tokenizer(b, padding=True, truncation=True, max_length=128, return_tensors="pt") for b in batches)
        return torch.cat([model(**e).last_hidden_state[:, 0] for e in encoded])

    order = list(range(len(sentences)))
    random.shuffle(order)
    steps = (len(order) + 63) // 64
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-5, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1 - step / steps)
    for step in range(steps):
        model.train()
        batch = [sentences[i] for i in order[step * 64 : (step + 1) * 64] for _ in range(2)]
        encoded = tokenizer(batch, padding=True, truncation=True, max_length=32, return_tensors="pt")
        z = F.normalize(model(**encoded).last_hidden_state[:, 0], dim=-1)
        similarities = z @ z.T * 20 - torch.eye(len(batch)) * 1e12
        idx = torch.arange(len(batch))
        loss = F.cross_entropy(similarities, idx + 1 - idx % 2 * 2)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()

    cosine = F.cosine_similarity(embed(list(test["sentence1"])), embed(list(test["sentence2"])))
    score = round(spearmanr(cosine.numpy(), test["score"]).statistic * 100, 2)
    record = {"seed": args.seed, "steps": steps, "sts_test_spearman_final_weights": score}
    save_result("simcse_hand_loop.jsonl", record, append=True)
    return score


if __name__ == "__main__":
    (loop_args,) = HfArgumentParser(LoopArguments).parse_args_into_dataclasses(args=sys.argv[1:])
    main(loop_args)
