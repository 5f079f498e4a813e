"""Text that leaves the library is inert (`scl_trainer.rendering`): every card kind, rendered once with plain strings
and once with hostile ones (markup, quotes, code, line separators) in every data-derived value (class names, dataset,
model and folder names, a compare report), has the same Markdown structure (parsed by markdown-it, CommonMark +
tables), the same Python code (parsed by `ast`, string contents aside) and the same YAML keys. A field written to a
line-based output (class names, ids) holds no line break of any reader and no tab, at every entry point."""

import ast
import json
import subprocess
import sys

import pytest
import yaml
from datasets import Dataset
from markdown_it import MarkdownIt

from scl_trainer import SCLConfig, SCLTrainer
from scl_trainer.__main__ import main as cli
from scl_trainer.classification_data import class_names
from scl_trainer.errors import DataError
from tests.cards import CARD_KINDS, write_card
from tests.helpers import REPO_ROOT, save_st_encoder

PLAIN = ["alpha", "beta", "gamma"]
HOSTILE = [
    'x"); import os; os.system("echo pwned")  #',
    "<img src=x onerror=alert(1)> *em* _u_ **b**",
    "`tick` ``two`` | pipe | [link](http://e) ![i](http://e) \\ back 'q' # h",
]
# Values that are not class names may also hold line breaks of any reader (a class name with one is refused).
HOSTILE_NAME = "run\u2028# Heading\n| a | b |\r\n```\n" + HOSTILE[2]


@pytest.fixture(scope="module")
def st_dir(tmp_path_factory, tiny_tokenizer):  # read only here: one per module
    return save_st_encoder(tmp_path_factory.mktemp("inert") / "st-base", tiny_tokenizer)


def compare_report(tmp_path, value: str) -> str:
    report = {
        "seeds": [1, 2], "complete": True, "confidence": 0.95, "metrics": [f"eval_f1 {value}"],
        "command": f"python -m scl_trainer compare {value}",
        "arms": [{"name": "a", "settings": {}}, {"name": value, "settings": {"scl_weight": value}}],
        "summary": {f"eval_f1 {value}": {n: {"mean": 0.5, "sd": 0.1, "n": 2} for n in ("a", value)}},
        "differences": {f"eval_f1 {value}": {value: {"mean": 0.1, "t_ci": [0.0, 0.2], "wins": 2, "ties": 0,
                                                       "losses": 0}}},
        "runs": [],
    }  # fmt: skip
    path = tmp_path / f"compare-{len(value)}.json"
    path.write_text(json.dumps(report))
    return str(path)


def structure(card: str) -> dict:
    """What a reader of the card sees as structure: the YAML's model name (as parsed back), the Markdown block and
    inline token kinds (text runs merged), and each code block's Python syntax tree with every string constant
    blanked."""
    _, front, body = card.split("---\n", 2)
    meta = yaml.safe_load(front)
    tokens = MarkdownIt("commonmark").enable("table").parse(body)
    blocks, code = [], []
    for token in tokens:
        inline = []
        for child in token.children or []:
            kind = "text" if child.type in ("text", "text_special") else child.type
            if not (inline and inline[-1] == kind == "text"):
                inline.append(kind)
        blocks.append((token.type, token.tag, token.nesting, token.info, tuple(inline)))
        if token.type == "fence" and token.info == "python":
            tree = ast.parse(token.content)
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    node.value = "S"
            code.append(ast.dump(tree))
        elif token.type == "fence":
            code.append(token.content.count("\n"))
    return {"model_name": meta["model_name"], "blocks": blocks, "code": code}


@pytest.mark.parametrize("kind", CARD_KINDS)
def test_every_card_kind_is_inert_to_hostile_strings(tmp_path, tiny_encoder_dir, st_dir, kind):
    plain = write_card(kind, tmp_path / "plain", PLAIN, "plain-run", tiny_encoder_dir, st_dir,
                       compare_report(tmp_path, "plain"))  # fmt: skip
    hostile_dir = tmp_path / "out \"q\" `b` $(touch pwned) 's'"
    hostile = write_card(kind, hostile_dir, HOSTILE, HOSTILE_NAME, tiny_encoder_dir, st_dir,
                         compare_report(tmp_path, HOSTILE_NAME))  # fmt: skip
    plain, hostile = structure(plain_card := plain), structure(hostile_card := hostile)
    assert hostile["model_name"] == HOSTILE_NAME  # the YAML quotes it: it parses back as it was
    assert hostile["blocks"] == plain["blocks"] and hostile["code"] == plain["code"]
    plain, hostile = plain_card, hostile_card
    html = MarkdownIt("commonmark").enable("table").render(hostile.split("---\n", 2)[2])
    assert "<img src=x" not in html and 'href="http://e"' not in html  # shown as text, never as a tag or a link
    assert "\u2028" not in hostile and "\n# Heading" not in hostile
    if kind in ("k_single", "k_pairs", "embedding"):
        assert "os.system" in hostile and "onerror" in hostile  # the class names are shown, as text


def test_usage_snippet_strings_are_the_values_themselves(tmp_path, tiny_encoder_dir, st_dir):
    """The Python literals a card writes evaluate to the hostile values, not to code."""
    card = write_card("k_single", tmp_path / 'o "x', HOSTILE, "m", tiny_encoder_dir, st_dir, None)
    block = card.split("```python\n", 1)[1].split("```", 1)[0]
    literals = [n.value for n in ast.walk(ast.parse(block)) if isinstance(n, ast.Constant)]
    assert str(tmp_path / 'o "x') in literals


# Line-based outputs: one check (`rendering.check_line_field`) at every entry point.
BREAKS = ["\n", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x1e", "\t"]


@pytest.mark.parametrize("char", BREAKS, ids=[repr(c) for c in BREAKS])
def test_a_class_name_that_would_break_a_line_is_refused_where_it_enters(tmp_path, tiny_encoder_dir, char):
    bad = f"pos{char}itive"
    with pytest.raises(DataError, match=r"class name .* holds a line break or a tab"):
        class_names(["negative", bad, "negative"], source="train.jsonl")
    with pytest.raises(DataError, match=r"class name .* holds a line break or a tab"):
        SCLConfig(output_dir=str(tmp_path), label_names=["negative", bad], report_to="none")
    rows = Dataset.from_dict({"text": [f"t {i}" for i in range(8)], "label": ["negative", bad] * 4})
    with pytest.raises(DataError, match=r"class name .* holds a line break or a tab"):  # the Python API
        SCLTrainer(tiny_encoder_dir, SCLConfig(output_dir=str(tmp_path / "api"), report_to="none"), train_dataset=rows)


def test_the_recipe_refuses_such_a_class_name_in_one_line_before_training(tmp_path):
    path = tmp_path / "train.jsonl"
    rows = [{"text": f"t {i}", "label": ["negative", "pos\u2028itive"][i % 2]} for i in range(8)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    argv = [sys.executable, "recipes/supcon_classify.py", "--dataset_name", str(path), "--output_dir",
            str(tmp_path / "o")]  # fmt: skip
    run = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "holds a line break or a tab" in run.stderr and run.stderr.count("\n") == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("char", ["\u2028", "\x85", "\x1c", "\r"], ids=["u2028", "x85", "x1c", "cr"])
@pytest.mark.parametrize("command", ["predict", "embed"])
def test_an_id_that_would_break_a_line_is_refused_by_predict_and_embed(tmp_path, classifier_dir, st_dir, char,
                                                                        command, capsys):  # fmt: skip
    rows = [{"id": "a", "text_a": "x y", "text_b": "z", "text": "x y"}, {"id": f"b{char}c", "text_a": "x", "text_b":
            "y", "text": "x"}]  # fmt: skip
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    model = classifier_dir if command == "predict" else st_dir
    out = tmp_path / ("out.tsv" if command == "predict" else "out.npy")
    flags = ["--id_columns", "id"] if command == "predict" else ["--id_column", "id", "--text_column", "text"]
    with pytest.raises(SystemExit) as stop:
        cli([command, "--model", str(model), "--input", str(path), "--output", str(out), *flags])
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "column 'id': the id" in err and "holds a line break or a tab" in err, err
    assert not out.exists()


def test_predict_refuses_a_model_whose_class_names_would_break_its_lines(tmp_path, classifier_dir, capsys):
    config = json.loads((classifier_dir / "config.json").read_text())
    config["class_names"] = ["no", "yes\u2028no"]
    (classifier_dir / "config.json").write_text(json.dumps(config))
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"text_a": "x", "text_b": "y"}) + "\n")
    with pytest.raises(SystemExit):
        cli(["predict", "--model", str(classifier_dir), "--input", str(path), "--output", str(tmp_path / "o.tsv")])
    err = capsys.readouterr().err
    assert "config.json, column 'class_names': the class name" in err, err
    assert not (tmp_path / "o.tsv").exists()


def test_a_local_training_file_is_named_by_its_file_name_only(tmp_path, tiny_encoder_dir, st_dir):
    data = tmp_path / "private" / "folder" / "train.jsonl"
    data.parent.mkdir(parents=True)
    data.write_text("")
    card = write_card("k_single", tmp_path / "o", PLAIN, str(data), tiny_encoder_dir, st_dir, None)
    section = card.split("## Training data", 1)[1].split("##", 1)[0]
    assert "`train.jsonl`" in section and "private" not in section
