"""Cards from facts: every card kind, written after a real (tiny) run, has usage snippets that run as written and
give what their comments say, and states only what the run did: the threshold is called tuned only when it was, the
training log's rows are the evaluations at their steps, the architecture and input kind are the ones that ran."""

import contextlib
import io
import json
import re

import numpy as np
import pytest
import torch
from markdown_it import MarkdownIt

from tests.cards import CARD_KINDS, CARDS, train_for_card

NAMES = ["alpha", "beta", "gamma"]


@pytest.fixture(scope="module")
def st_dir(tmp_path_factory, tiny_tokenizer):
    from tests.helpers import save_st_encoder

    return save_st_encoder(tmp_path_factory.mktemp("facts") / "st-base", tiny_tokenizer)


def card_of(kind, folder, tiny_encoder_dir, st_dir) -> tuple[str, object]:
    trainer = train_for_card(kind, folder, NAMES, tiny_encoder_dir, st_dir, evaluate=True)
    trainer.save_model()
    trainer.create_model_card(model_name="tiny-run", dataset_name="tiny-data")
    return (folder / "README.md").read_text(encoding="utf-8"), trainer


def python_blocks(card: str) -> list[str]:
    body = card.split("---\n", 2)[2]
    tokens = MarkdownIt("commonmark").enable("table").parse(body)
    return [t.content for t in tokens if t.type == "fence" and t.info == "python"]


@pytest.mark.parametrize("kind", CARD_KINDS)
def test_every_cards_usage_snippets_run_as_written(tmp_path, tiny_encoder_dir, st_dir, kind, monkeypatch):
    card, _ = card_of(kind, tmp_path / "run", tiny_encoder_dir, st_dir)
    blocks = python_blocks(card)
    assert blocks, card
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        scope = {}
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(block, f"<{kind} card snippet>", "exec"), scope)  # the snippet as a reader copies it
        if kind == "simcse":
            continue
        architecture, _, k = CARDS[kind]
        classes = NAMES[:k]
        if architecture == "embedding":
            assert scope["labels"] and all(label in classes for label in scope["labels"])
        elif architecture == "bi_encoder":
            assert scope["is_match"].dtype == torch.bool
        elif k > 2:
            assert scope["out"]["label"] in classes, scope["out"]  # what the comment says out["label"] is
        elif "label" in scope:
            assert scope["label"] in classes
        else:
            assert isinstance(scope["is_match"], bool)
    if kind == "simcse":  # the plain-transformers snippet gives the sentence-transformers embedding
        from sentence_transformers import SentenceTransformer

        expected = SentenceTransformer(str(tmp_path / "run")).encode(["A man is playing a guitar."])
        np.testing.assert_allclose(scope["embedding"].numpy(), expected, atol=1e-5)


def training_log_rows(card: str) -> list[list[str]]:
    section = card.split("## Training log", 1)[1].split("\n## ", 1)[0]
    return [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in section.splitlines()
        if line.startswith("|") and not line.startswith("| ---")
    ]


@pytest.mark.parametrize("kind", ["pair_cross", "k_single", "embedding"])
def test_the_training_log_rows_are_the_evaluations_at_their_steps(tmp_path, tiny_encoder_dir, st_dir, kind):
    card, trainer = card_of(kind, tmp_path / "run", tiny_encoder_dir, st_dir)
    rows = training_log_rows(card)
    header, body = rows[0], rows[1:]
    logged = {entry["step"]: entry for entry in trainer.state.log_history if "eval_loss" in entry}
    step = header.index("step")
    assert [int(row[step]) for row in body if row[step].isdigit()] == sorted(logged), (body, sorted(logged))


@pytest.mark.parametrize("kind", ["pair_cross", "single_binary"])
def test_tuned_is_said_only_when_the_threshold_was_tuned(tmp_path, tiny_encoder_dir, st_dir, kind):
    card, trainer = card_of(kind, tmp_path / "run", tiny_encoder_dir, st_dir)  # 12 validation rows: not tuned
    assert not trainer.model.config.to_dict().get("threshold_tuned", False)
    prose = re.sub(r"```.*?```", "", card.split("---\n", 2)[2], flags=re.S)
    assert "tuned threshold" not in card and "was tuned" not in prose, card  # the model-index names included
    assert "is the neutral 0.5" in prose


@pytest.mark.parametrize("kind", ["single_binary", "k_single", "embedding"])
def test_a_single_text_card_never_speaks_of_pairs(tmp_path, tiny_encoder_dir, st_dir, kind):
    card, _ = card_of(kind, tmp_path / "run", tiny_encoder_dir, st_dir)
    prose = re.sub(r"```.*?```", "", card.split("---\n", 2)[2], flags=re.S)
    assert " pairs" not in prose.replace("sentence-transformers", ""), [
        line for line in prose.splitlines() if " pairs" in line
    ]
    architecture = CARDS[kind][0]
    meta = card.split("---\n", 2)[1]
    assert json.dumps(architecture) not in meta or architecture == "embedding"
