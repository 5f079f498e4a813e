"""Loaders: real-file counts and formats, splits, generic files, and the errors for bad rows."""

import json

import pytest
from transformers import BertTokenizer

from scl_trainer.data import iter_ccf_qa_match, load_ccf_qa_match, load_mrpc, load_pair_file
from scl_trainer.errors import DataError
from scl_trainer.splits import find_label_conflicts, split_by_group, split_train_validation
from scl_trainer.tokenization import tokenize_pairs
from tests.helpers import load_recipe


def test_ccf_train_join_counts_and_order(data_dir):
    ds = load_ccf_qa_match(data_dir, "train", empty_texts="keep")
    assert ds.column_names == ["query_id", "reply_id", "text_a", "text_b", "label"]
    assert len(ds) == 21_585
    assert sum(ds["label"]) == 5_387
    assert len(set(ds["query_id"])) == 6_000
    # The join: row 1 of train.reply.tsv is query 0's first reply, and text_a is query 0's text.
    first_query = (data_dir / "ccf_qa_match" / "train.query.tsv").read_text(encoding="utf-8").splitlines()[0]
    assert ds[0]["query_id"] == "0" and ds[0]["reply_id"] == "0"
    assert ds[0]["text_a"] == first_query.split("\t")[1]


def test_ccf_train_has_one_empty_reply_which_is_an_error_unless_dropped(data_dir, caplog):
    with pytest.raises(DataError, match=r"train\.reply\.tsv, row 2195, column 'reply': empty"):
        load_ccf_qa_match(data_dir, "train")
    with caplog.at_level("WARNING"):
        ds = load_ccf_qa_match(data_dir, "train", empty_texts="drop")
    assert len(ds) == 21_584
    assert "dropped 1 rows with empty text (rows 2195)" in caplog.text


def test_ccf_test_is_unlabelled_and_complete(data_dir):
    rows = list(iter_ccf_qa_match(data_dir, "test", empty_texts="keep"))
    assert len(rows) == 53_757
    assert "label" not in rows[0]
    assert len({r["query_id"] for r in rows}) == 14_000


def test_split_by_query_id_has_no_shared_query_and_is_seeded(data_dir):
    ds = load_ccf_qa_match(data_dir, "train", empty_texts="drop")
    splits = split_by_group(ds, "query_id", validation_size=0.1, seed=13)
    train_q, val_q = set(splits["train"]["query_id"]), set(splits["validation"]["query_id"])
    assert not train_q & val_q
    assert len(train_q) + len(val_q) == 6_000
    assert len(val_q) == 600  # 10% of the queries
    assert len(splits["train"]) + len(splits["validation"]) == len(ds)
    again = split_by_group(ds, "query_id", validation_size=0.1, seed=13)
    assert again["validation"]["reply_id"] == splits["validation"]["reply_id"]
    other = split_by_group(ds, "query_id", validation_size=0.1, seed=14)
    assert set(other["validation"]["query_id"]) != val_q


def test_mrpc_counts_quotes_and_optional_header(data_dir, tmp_path):
    path = data_dir / "mrpc" / "msr_paraphrase_train.txt"
    ds = load_mrpc(path)
    assert len(ds) == 4_076
    assert sum(ds["label"]) == 2_753
    assert ds[0]["text_a"].startswith('Amrozi accused his brother, whom he called "the witness"')  # quotes kept
    with_header = tmp_path / "mrpc_with_header.txt"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)[:5]
    with_header.write_text("Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n" + "".join(lines), encoding="utf-8")
    assert load_mrpc(with_header)["text_a"] == ds.select(range(5))["text_a"]


def test_stratified_split_keeps_class_balance(data_dir):
    ds = load_mrpc(data_dir / "mrpc" / "msr_paraphrase_train.txt")
    splits = split_train_validation(ds, 0.1, seed=42)
    assert len(splits["validation"]) == 408
    share = sum(splits["validation"]["label"]) / len(splits["validation"])
    assert share == pytest.approx(2_753 / 4_076, abs=0.005)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl"])
def test_generic_files_with_configurable_columns(tmp_path, suffix):
    rows = [("What is it?", 'A "thing", really', 1), ("Where?", "Here", 0)]
    path = tmp_path / f"pairs{suffix}"
    if suffix == ".jsonl":
        path.write_text("\n".join(json.dumps({"q": a, "r": b, "y": y}) for a, b, y in rows) + "\n", encoding="utf-8")
    elif suffix == ".csv":
        body = "".join(f'"{a}","{b.replace(chr(34), chr(34) * 2)}",{y}\n' for a, b, y in rows)
        path.write_text("q,r,y\n" + body, encoding="utf-8")
    else:
        path.write_text("q\tr\ty\n" + "".join(f"{a}\t{b}\t{y}\n" for a, b, y in rows), encoding="utf-8")
    ds = load_pair_file(path, text_a_column="q", text_b_column="r", label_column="y")
    assert ds["text_a"] == ["What is it?", "Where?"]
    assert ds["text_b"] == ['A "thing", really', "Here"]
    assert ds["label"] == [1, 0]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text_a\ttext_b\tlabel\nx\ty\t2\n", r"pairs\.tsv, row 2, column 'label': label must be 0 or 1, got '2'"),
        ("text_a\ttext_b\tlabel\nx\ty\tyes\n", r"row 2, column 'label': label must be 0 or 1, got 'yes'"),
        ("text_a\ttext_b\tlabel\nx\ty\t\n", r"row 2, column 'label': missing label"),
        ("text_a\ttext_b\tlabel\nx\ty\tnan\n", r"row 2, column 'label': missing label \('nan'\)"),
        ("text_a\ttext_b\tlabel\nx\t  \t1\n", r"row 2, column 'text_b': empty or whitespace-only text"),
        ("text_a\ttext_b\nx\ty\n", r"row 1, column 'label': column not found"),
        ("text_a,text_b,label\nx,y,1\n", r"wrong delimiter for a \.tsv file"),
        ("text_a\ttext_b\tlabel\nx\ty\n", r"row 2: 2 fields, the header has 3"),
    ],
    ids=["label-2", "label-yes", "label-empty", "label-nan", "empty-text", "missing-column", "delimiter", "ragged"],
)
def test_bad_rows_name_file_row_and_column(tmp_path, content, message):
    path = tmp_path / "pairs.tsv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        load_pair_file(path)


def test_missing_files_and_dirs(tmp_path):
    with pytest.raises(DataError, match=r"directory .*nowhere/ccf_qa_match does not exist .*--data_dir"):
        load_ccf_qa_match(tmp_path / "nowhere")
    with pytest.raises(DataError, match=r"file .*missing\.tsv does not exist"):
        load_pair_file(tmp_path / "missing.tsv")


def test_ccf_reply_without_query(tmp_path):
    (tmp_path / "ccf_qa_match").mkdir()
    (tmp_path / "ccf_qa_match" / "train.query.tsv").write_text("0\t毛坯吗？\n", encoding="utf-8")
    (tmp_path / "ccf_qa_match" / "train.reply.tsv").write_text("0\t0\t是的\t1\n7\t0\t不是\t0\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"train\.reply\.tsv, row 2, column 'query_id': query id '7' has no query"):
        load_ccf_qa_match(tmp_path)


def test_tokenize_pairs_counts_truncation(tiny_tokenizer: BertTokenizer, tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = [{"text_a": "a b", "text_b": "c", "label": 1}, {"text_a": "the " * 30, "text_b": "house " * 30, "label": 0}]
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    tokenized, truncated = tokenize_pairs(load_pair_file(path), tiny_tokenizer, max_length=16)
    assert truncated == 1
    assert [len(ids) for ids in tokenized["input_ids"]] == [6, 16]  # [CLS] a b [SEP] c [SEP]
    assert tokenized["label"] == [1, 0]
    # A pair exactly at the limit is not counted as truncated.
    _, truncated = tokenize_pairs(load_pair_file(path).select([0]), tiny_tokenizer, max_length=6)
    assert truncated == 0


def test_label_conflicts_are_found(data_dir, tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_text("text_a\ttext_b\tlabel\na\tb\t1\na\tb\t0\na\tb\t1\nc\td\t1\nc\td\t1\nb\ta\t0\n", encoding="utf-8")
    assert find_label_conflicts(load_pair_file(path)) == {("a", "b"): 3}
    # The CCF training data holds 32 such (query, reply) pairs, 83 rows, e.g. a generic reply to a repeated query.
    conflicts = find_label_conflicts(load_ccf_qa_match(data_dir, "train", empty_texts="drop"))
    assert (len(conflicts), sum(conflicts.values())) == (32, 83)


def test_recipe_warns_about_label_conflicts(tmp_path, caplog):
    from tests.helpers import load_recipe

    path = tmp_path / "pairs.tsv"
    rows = "".join(f"q{i}\tr{i}\t{i % 2}\n" for i in range(20)) + "q0\tr0\t1\n"
    path.write_text("text_a\ttext_b\tlabel\n" + rows, encoding="utf-8")
    recipe = load_recipe("supcon_pair")
    with caplog.at_level("WARNING"):
        recipe.load_splits(recipe.ScriptArguments(dataset_name=str(path)), seed=0)
    assert "1 text pairs occur with both labels (2 rows), data conflicts kept as they are" in caplog.text


def test_a_missing_column_names_the_flag_that_picks_it(tmp_path):
    path = tmp_path / "qa.csv"
    path.write_text("question,answer,is_match\nhow old,ten,1\n")
    with pytest.raises(DataError, match=r"column 'text_a': column not found; the columns are \['question', 'answer', "
                       r"'is_match'\]. Name the column to use with --text_a_column COLUMN$"):  # fmt: skip
        load_pair_file(path)
    with pytest.raises(DataError, match=r"column 'questoin'.*with --text_a_column \(--text_a_column question\?\)"):
        load_pair_file(path, text_a_column="questoin", text_b_column="answer", label_column="is_match")
    with pytest.raises(DataError, match=r"column 'label'.*Name the column to use with --label_column COLUMN"):
        load_pair_file(path, text_a_column="question", text_b_column="answer")


@pytest.mark.parametrize(
    ("labels", "positive", "expected"),
    [
        (['"match"', '"no_match"', '" Match "'], "match", [1, 0, 1]),
        (['"yes"', '"no"', '"no"'], "yes", [1, 0, 0]),
        (["true", "false", "true"], "true", [1, 0, 1]),  # JSON booleans
        (['"True"', '"False"', '"false"'], "True", [1, 0, 0]),
        (['"no_match"', '"no_match"', '"no_match"'], "match", [0, 0, 0]),  # the class check is the recipe's
    ],
)
def test_positive_label_maps_named_labels(tmp_path, labels, positive, expected):
    path = tmp_path / "pairs.jsonl"
    path.write_text("".join(f'{{"text_a": "a{i}", "text_b": "b", "label": {v}}}\n' for i, v in enumerate(labels)))
    assert load_pair_file(path, positive_label=positive)["label"] == expected


def test_named_labels_without_or_beyond_the_mapping_are_refused_with_the_fix(tmp_path):
    path = tmp_path / "pairs.jsonl"
    rows = ["match", "no_match", "maybe"]
    path.write_text("".join(f'{{"text_a": "a", "text_b": "b", "label": "{v}"}}\n' for v in rows))
    with pytest.raises(DataError, match=r"row 1, column 'label': label must be 0 or 1, got 'match'; .*"
                       r"--positive_label \(e.g. --positive_label match\)"):  # fmt: skip
        load_pair_file(path)
    with pytest.raises(DataError, match=r"row 3, column 'label': label 'maybe' is neither the positive label 'match' "
                       r"nor 'no_match' \(the other label, first at row 2\)"):  # fmt: skip
        load_pair_file(path, positive_label="match")


def test_the_pair_recipe_reads_named_labels(tmp_path):
    recipe = load_recipe("supcon_pair")
    path = tmp_path / "qa.csv"
    path.write_text(
        "question,answer,is_match\n" + "".join(f"q{i},r{i},{('no_match', 'match')[i % 2]}\n" for i in range(20))
    )
    (script_args, _, _) = recipe.parser().parse_args_and_config(
        ["--dataset_name", str(path), "--text_a_column", "question", "--text_b_column", "answer", "--label_column",
         "is_match", "--positive_label", "match", "--validation_size", "0.5", "--output_dir", str(tmp_path / "out")]
    )  # fmt: skip
    splits, _ = recipe.load_splits(script_args, seed=1)
    assert sorted([*splits["train"]["label"], *splits["validation"]["label"]]) == [0] * 10 + [1] * 10
    rows = {(a, label) for split in splits.values() for a, label in zip(split["text_a"], split["label"])}
    assert rows == {(f"q{i}", i % 2) for i in range(20)}


def test_a_validation_file_equal_to_the_training_file_is_warned_about(tmp_path, caplog):
    recipe = load_recipe("supcon_pair")
    path = tmp_path / "pairs.csv"
    path.write_text("text_a,text_b,label\n" + "".join(f"q{i},r{i},{i % 2}\n" for i in range(20)))
    (tmp_path / "link.csv").symlink_to(path)
    (script_args, _, _) = recipe.parser().parse_args_and_config(
        ["--dataset_name", str(path), "--validation_file", str(tmp_path / "link.csv"), "--output_dir", str(tmp_path)]
    )
    with caplog.at_level("WARNING"):
        recipe.load_splits(script_args, seed=1)
    assert "is the training file: validation measures the training pairs themselves" in caplog.text


def test_a_json_file_may_hold_one_array_and_a_lone_surrogate_is_an_error_naming_the_row(tmp_path):
    rows = [{"text_a": "a cat", "text_b": "a dog", "label": 1}, {"text_a": "x", "text_b": "y", "label": 0}]
    array = tmp_path / "pairs.json"
    array.write_text(json.dumps(rows, indent=2))  # one JSON array over many lines, as `datasets` accepts it
    lines = tmp_path / "pairs.jsonl"
    lines.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert load_pair_file(array).to_list() == load_pair_file(lines).to_list() == rows
    broken = tmp_path / "broken.json"
    broken.write_text('[\n  {"text_a": "a", "text_b": "b", "label": 1},\n  {"text_a": \n]\n')
    with pytest.raises(DataError, match=r"broken.json, row 4: not a JSON array of objects"):
        load_pair_file(broken)
    surrogate = tmp_path / "surrogate.jsonl"
    surrogate.write_text(json.dumps(rows[0]) + "\n" + '{"text_a": "bad \\ud800 half", "text_b": "y", "label": 0}\n')
    with pytest.raises(
        DataError, match=r"surrogate.jsonl, row 2, column 'text_a': a lone surrogate escape \(\\ud800\)"
    ):
        load_pair_file(surrogate)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("train.tsvv", r"train.tsvv: no such file \(a .tsv file\?\), and not a Hugging Face Hub dataset id"),
        ("data/pairs.jsnl", r"pairs.jsnl: no such file \(a .jsonl file\?\)"),
        ("./mydata", r"./mydata: no such file, and not a Hugging Face Hub dataset id"),
    ],
)
def test_a_misspelled_file_name_is_an_error_not_a_hub_lookup(name, message, monkeypatch):
    from scl_trainer.data import load_pairs

    def no_hub(*args, **kwargs):
        raise AssertionError("the Hub was asked")

    monkeypatch.setattr("datasets.load_dataset", no_hub)
    with pytest.raises(DataError, match=message):
        load_pairs(name)


def test_a_hub_dataset_that_cannot_be_loaded_is_one_error_naming_it(monkeypatch):
    from scl_trainer.data import load_pairs

    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", True)
    with pytest.raises(DataError, match=r"someone/pairs, split 'train': not a local file and not loadable as a dataset"
                                        r": the Hugging Face Hub is disabled here"):  # fmt: skip
        load_pairs("someone/pairs")
