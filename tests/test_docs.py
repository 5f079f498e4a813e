"""Docs that run: every Python and shell snippet of README.md and the recipe READMEs is executed, so a snippet that
breaks fails `make test`.

How each snippet runs, in a scratch copy of the repository layout (`recipes/` linked, `../shared` linked to the real
data, outputs written in the scratch directory), as a user who pasted it would run it:
- Python blocks: as written, after the replacements listed in `PYTHON_EDITS` (the data folder made absolute, the
  epochs cut to a few steps); each replacement must match, so the snippet cannot drift away from them.
- Shell commands (continuation lines joined, comments dropped):
  - `python recipes/...`, `accelerate launch ...`, `python -m scl_trainer ...`: executed with `TINY_FLAGS` appended
    (a few steps on a few rows; for `compare`, one seed). A command whose model is neither a local folder nor an
    installed offline copy (`bert-base-chinese`, ...) runs with the tiny test BERT instead: the command, its YAML and
    its data are what is tested, not the download.
  - commands under a comment saying "NOT run here" (GPU launch configs, data that is not on this machine): the
    accelerate config file is loaded by accelerate and the recipe arguments are parsed and checked by the recipe's
    own parser, nothing is trained.
  - `make <target>`: `make -n <target>` (the target exists and expands); what it runs is the recipe command the
    recipe README shows, executed above.
"""

import dataclasses
import itertools
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from transformers import BertModel, BertTokenizerFast

from scl_trainer.compare import load_recipe
from scl_trainer.recipe_setup import run_recipe
from scl_trainer.utils import resolve_model_name_or_path
from tests.helpers import FIXTURES, REPO_ROOT

pytestmark = pytest.mark.slow

DOCS = [
    "README.md",
    "recipes/supcon_pair/README.md",
    "recipes/simcse_unsup/README.md",
    "recipes/supcon_classify/README.md",
]

# (old, new) per Python snippet: `{data_dir}` is the real data folder.
PYTHON_EDITS = [
    ('DATA_DIR = "../shared/data"', 'DATA_DIR = "{data_dir}"'),
    ("num_train_epochs=3,", "max_steps=2, per_device_train_batch_size=8, per_device_eval_batch_size=64,"),
    ("num_train_epochs=1,", "max_steps=2, per_device_train_batch_size=8, per_device_eval_batch_size=64,"),
    ('splits["validation"]', 'splits["validation"].select(range(48))'),
    ('load_stsb(DATA_DIR, "validation")', 'load_stsb(DATA_DIR, "validation").select(range(48))'),
]
TINY_FLAGS = {
    "supcon_pair": ["--max_steps", "2", "--max_train_samples", "64", "--max_eval_samples", "48",
                    "--per_device_train_batch_size", "8", "--overwrite_output_dir", "true",
                    "--small_data_min_steps", "2"],
    "simcse_unsup": ["--max_steps", "2", "--max_train_samples", "64", "--max_eval_samples", "48",
                     "--per_device_train_batch_size", "8", "--overwrite_output_dir", "true"],
    "supcon_classify": ["--max_steps", "2", "--max_train_samples", "64", "--max_eval_samples", "48",
                        "--per_device_train_batch_size", "8", "--overwrite_output_dir", "true",
                        "--small_data_min_steps", "2"],
    "compare": ["--seeds", "1", "--max_steps", "2", "--max_train_samples", "64", "--max_eval_samples", "48",
                "--per_device_train_batch_size", "8"],
}  # fmt: skip
NOT_RUN_MARK = "NOT run here"


def code_blocks(doc: str) -> list[tuple[str, str]]:
    """(language, text) of every fenced block of a Markdown file; untagged blocks (text, trees) are not code."""
    text = (REPO_ROOT / doc).read_text(encoding="utf-8")
    return [(m[1], m[2]) for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, flags=re.M | re.S) if m[1]]


def shell_commands(block: str) -> list[tuple[list[str], bool]]:
    """(argv, runnable) of each command of a shell block; a comment line with `NOT_RUN_MARK` makes the commands
    after it in the block not runnable here."""
    commands, runnable = [], True
    for line in block.replace("\\\n", " ").splitlines():
        if line.lstrip().startswith("#"):
            runnable = runnable and NOT_RUN_MARK not in line
        elif line.strip():
            commands.append((shlex.split(line, comments=True), runnable))
    return commands


def _is_recipe_script(token: str) -> bool:
    return token.startswith("recipes/") and token.endswith(".py")


# `accelerate launch` with no launcher flags on a machine without an accelerate config starts one process that runs
# the script as `python` would: both run in this process (the multi-process configs keep their launcher).
SINGLE_PROCESS_LAUNCHERS = (["python"], ["accelerate", "launch"])


def _recipe_argv(argv: list[str]) -> tuple[str, list[str], list[str]]:
    """(recipe name, launcher args, recipe args) of `python recipes/X.py ...` or `accelerate launch ... X.py ...`."""
    script = next(i for i, token in enumerate(argv) if _is_recipe_script(token))
    return Path(argv[script]).stem, argv[:script], argv[script + 1 :]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, tiny_encoder_dir) -> str:
    """The tiny test BERT with a fast tokenizer (the CCF commands predict the 53,757 test pairs)."""
    path = tmp_path_factory.mktemp("tiny-bert-fast")
    BertModel.from_pretrained(tiny_encoder_dir).save_pretrained(path)
    BertTokenizerFast(vocab_file=str(FIXTURES / "vocab.txt"), do_lower_case=True).save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory, data_dir) -> Path:
    """A scratch checkout: `recipes/` linked, `../shared` linked to the real data's parent, a user's own files."""
    root = tmp_path_factory.mktemp("docs")
    (root / "repo").mkdir()
    (root / "repo" / "recipes").symlink_to(REPO_ROOT / "recipes")
    (root / "shared").symlink_to(data_dir.parent)
    intents = {"booking": "book a table for", "weather": "what is the weather in", "music": "play some songs by"}
    rows = [f"{text} {i},{intent}\n" for i in range(10) for intent, text in intents.items()]
    (root / "repo" / "my_intents.csv").write_text("utterance,intent\n" + "".join(rows), encoding="utf-8")
    lines = (data_dir / "stsbenchmark" / "sts-dev.csv").read_text(encoding="utf-8").splitlines()[:60]
    rows = [line.split("\t") for line in lines]
    (root / "repo" / "my_sentences.txt").write_text("\n".join(r[5] for r in rows) + "\n", encoding="utf-8")
    faq = [
        ("how do i reset my password", "use the reset link on the login page"),
        ("where is my order", "track it from your account page"),
        ("can i pay by card", "we take every major card"),
    ]
    faq_rows = [
        f"{q} {i},{a} {i},1\n{q} {i},{faq[(k + 1) % 3][1]} {i},0\n" for i in range(7) for k, (q, a) in enumerate(faq)
    ]
    (root / "repo" / "my_faq.csv").write_text("question,reply,label\n" + "".join(faq_rows), encoding="utf-8")
    (root / "repo" / "my_pairs.csv").write_text(
        "sentence1,sentence2,score\n" + "".join(f'"{r[5]}","{r[6]}",{r[4]}\n' for r in rows), encoding="utf-8"
    )
    return root / "repo"


def _run(argv: list[str], cwd: Path, timeout: int = 600) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"`{shlex.join(argv)}` exited {done.returncode}:\n{output[-4000:]}"
    return output


def _model_of(recipe: str, recipe_args: list[str]) -> str:
    parsed = load_recipe(REPO_ROOT / "recipes" / f"{recipe}.py").parser().parse_args_and_config(recipe_args)
    return next(a.model_name_or_path for a in parsed if hasattr(a, "model_name_or_path"))


def check_not_run(argv: list[str], cwd: Path) -> None:
    """A command that cannot run on this machine: its accelerate config loads and its arguments parse and pass the
    recipe's checks."""
    from accelerate.commands.config.config_args import load_config_from_file

    recipe, launcher, recipe_args = _recipe_argv(argv)
    if "--config_file" in launcher:
        config = load_config_from_file(str(REPO_ROOT / launcher[launcher.index("--config_file") + 1]))
        assert config.compute_environment.value == "LOCAL_MACHINE"
    old = Path.cwd()
    os.chdir(cwd)
    try:
        # `--use_cpu true`: parsed as on this machine (a GPU config's bf16 is refused on a CPU without it)
        load_recipe(REPO_ROOT / "recipes" / f"{recipe}.py").parser().parse_args_and_config(
            [*recipe_args, "--use_cpu", "true"]
        )
    finally:
        os.chdir(old)


_RAN: set[tuple[str, ...]] = set()  # a run shown twice (in two docs, or by two launchers) runs once (shared checkout)


def _in_process(run, cwd: Path) -> str:
    """`run()` in `cwd`, in this process: a `python recipes/X.py`, single-process `accelerate launch recipes/X.py`
    or `python -m scl_trainer predict|embed` command is the same code without a new interpreter's imports (the
    multi-process launchers and `compare` keep their own processes)."""
    old = Path.cwd()
    os.chdir(cwd)
    try:
        run()
    finally:
        os.chdir(old)
    return ""


def _run_key(argv: list[str]) -> tuple[str, ...]:
    """What a command runs: `python recipes/X.py A` and `accelerate launch recipes/X.py A` (no launcher flags: one
    process, the same code in this process) are one run."""
    if any(_is_recipe_script(token) for token in argv):
        recipe, launcher, recipe_args = _recipe_argv(argv)
        if launcher in SINGLE_PROCESS_LAUNCHERS:
            return ("single-process", recipe, *recipe_args)
    return tuple(argv)


def run_shell_command(argv: list[str], cwd: Path, tiny_model: str) -> str:
    key = _run_key(argv)
    if key in _RAN:
        return ""
    _RAN.add(key)
    if argv[0] == "make":
        return _run(["make", "-n", *argv[1:]], REPO_ROOT)
    if argv[:3] == ["python", "-m", "scl_trainer"]:
        if argv[3] in ("predict", "embed"):
            from scl_trainer.__main__ import main as cli

            return _in_process(lambda: cli(argv[3:]), cwd)
        extra = TINY_FLAGS["compare"] if argv[3] == "compare" else []
        return _run([sys.executable, *argv[1:], *extra], cwd)
    recipe, launcher, recipe_args = _recipe_argv(argv)
    args = [*recipe_args, *TINY_FLAGS[recipe]]
    old = Path.cwd()
    os.chdir(cwd)
    try:
        model = _model_of(recipe, args)
    finally:
        os.chdir(old)
    if not os.path.isdir(resolve_model_name_or_path(model)):
        args += ["--model_name_or_path", tiny_model]  # not downloadable here: the tiny BERT stands in
    if launcher in SINGLE_PROCESS_LAUNCHERS:
        module = load_recipe(REPO_ROOT / "recipes" / f"{recipe}.py")
        return _in_process(lambda: run_recipe(module.main, module.parser(), args), cwd)
    assert launcher[:2] == ["accelerate", "launch"], f"unknown launcher {launcher}"
    launch = [sys.executable, "-m", "accelerate.commands.launch", *launcher[2:]]
    if "--config_file" in launch:  # relative to the repository, as in the docs
        i = launch.index("--config_file") + 1
        launch[i] = str(REPO_ROOT / launch[i])
    return _run([*launch, argv[len(launcher)], *args], cwd)


def test_every_code_block_is_python_or_shell():
    for doc in DOCS:
        for language, _ in code_blocks(doc):
            assert language in ("python", "bash"), f"{doc}: a ```{language} block: this test runs python and bash only"


def test_not_run_commands_are_marked_and_few():
    """The only commands not executed are GPU launch configs and the Wikipedia corpus, each marked in the docs."""
    for doc in DOCS:
        for language, block in code_blocks(doc):
            if language == "bash":
                for argv, runnable in shell_commands(block):
                    if not runnable:
                        line = shlex.join(argv)
                        assert any(s in line for s in ("ddp.yaml", "deepspeed", "fsdp", "multi_node", "wiki1m")), line


@pytest.mark.parametrize("doc", DOCS)
def test_doc_snippets_run(doc, workdir, data_dir, tiny_model):
    blocks = code_blocks(doc)
    assert blocks, f"{doc} has no code blocks"
    for language, block in blocks:
        if language == "python":
            for old, new in PYTHON_EDITS:
                if old in block:
                    block = block.replace(old, new.format(data_dir=data_dir))
            assert "{data_dir}" not in block and str(data_dir) in block, "the snippet names DATA_DIR once, at the top"
            _run([sys.executable, "-c", block], workdir)
            for out in ("out/pairs", "out/simcse"):
                assert (workdir / out / "README.md").is_file(), f"the snippet writes the card of {out}"
                assert (workdir / out / "config.json").is_file(), f"the snippet saves the model in {out}"
            continue
        for argv, runnable in shell_commands(block):
            if runnable:
                run_shell_command(argv, workdir, tiny_model)
            else:
                check_not_run(argv, workdir)


def test_python_edits_all_apply():
    """Every replacement the test makes matches the README's snippet (a renamed line fails here, not silently)."""
    (python,) = [block for language, block in code_blocks("README.md") if language == "python"]
    for old, _ in PYTHON_EDITS:
        assert old in python, f"README.md's Python snippet no longer contains {old!r}"


def test_yaml_configs_named_in_docs_exist():
    for doc in DOCS:
        for path in re.findall(r"recipes/[\w/]+\.yaml", (REPO_ROOT / doc).read_text(encoding="utf-8")):
            assert (REPO_ROOT / path).is_file(), f"{doc} names {path}, which does not exist"
            yaml.safe_load((REPO_ROOT / path).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "generated, docs, header",
    [
        ("scl_evidence.md", ["README.md"], None),  # make evidence, from the regimes' compare.json files
        ("simcse_default.md", ["README.md", "recipes/simcse_unsup/README.md"], None),  # make simcse-select
        ("simcse_interpolation.md", ["README.md"], None),  # make simcse-select, its WiSE-FT part
        ("group_by_length.md", ["recipes/supcon_pair/README.md"], None),  # make group-by-length
        ("pair_architectures.md", ["README.md"], None),  # make pair-evidence
        ("small_data.md", ["README.md"], None),  # bench/small_data.py, in make bench
        ("classify_evidence.md", ["README.md"], "| regime | majority |"),  # make classify-evidence: its overview
        ("classify_evidence.md", ["README.md"], "| regime | setfit | scl_seed | scl_balanced |"),  # class weights
        (
            "classify_evidence.md",
            ["README.md"],
            "| regime | frozen_lr | setfit | ce | scl_chosen | emb_ce |",
        ),  # issue 30
    ],
)
def test_readmes_quote_the_result_tables_as_generated(generated, docs, header):
    """The READMEs' result tables are the ones the bench scripts wrote (bench/results/<generated>, from compare.json
    files), line for line: results in the READMEs are not hand-collected. With `header`, only the table that starts
    with it (a report whose per-regime tables stay in bench/results)."""
    lines = (REPO_ROOT / "bench" / "results" / generated).read_text(encoding="utf-8").splitlines()
    if header is not None:
        start = next(i for i, line in enumerate(lines) if line.startswith(header))
        lines = list(itertools.takewhile(lambda line: line.startswith("|"), lines[start:]))
    table = [line for line in lines if line.startswith("|")]
    assert len(table) > 2, f"bench/results/{generated} has no table"
    for doc in docs:
        text = (REPO_ROOT / doc).read_text(encoding="utf-8")
        missing = [line for line in table if line not in text]
        assert not missing, f"{doc} does not quote bench/results/{generated}; first missing row: {missing[0]}"


def _table_after(doc: str, header_start: str) -> list[dict[str, str]]:
    """The rows of the Markdown table whose header row starts with `header_start`, as {column: cell}."""
    lines = (REPO_ROOT / doc).read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header_start))
    cells = lambda line: [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]  # noqa: E731
    header, rows = cells(lines[start]), []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(dict(zip(header, cells(line), strict=True)))
    return rows


def test_the_simcse_readme_says_what_each_config_sets():
    """The SimCSE README's table of configs is what the YAML files and `SimCSEConfig`'s defaults say (a README that
    describes a setting a config no longer has fails here)."""
    from scl_trainer.simcse_config import SimCSEConfig

    rows = _table_after("recipes/simcse_unsup/README.md", "| config | pooler |")
    configs = [row["config"] for row in rows]
    assert configs == ["stsb_minilm.yaml", "wiki1m_bert.yaml", "library defaults (no `--config`)"]
    defaults = {f.name: f.default for f in dataclasses.fields(SimCSEConfig)}
    for row in rows:
        if row["config"].endswith(".yaml"):
            values = yaml.safe_load((REPO_ROOT / "recipes" / "simcse_unsup" / row["config"]).read_text())
        else:
            values = dict(defaults)
            assert values["pooler"] is None and row["pooler"] == "the base model's own, else `cls"
            values["pooler"] = row["pooler"]  # resolved per base model (tests/test_simcse_trainer.py)
        for column, cell in row.items():
            if column == "config":
                continue
            value = values[column]
            assert (float(cell) == float(value)) if isinstance(value, (int, float)) else cell == value, (row, column)
    for yaml_name in ("stsb_minilm.yaml", "wiki1m_bert.yaml"):  # the same in the YAML's own header comment
        text = (REPO_ROOT / "recipes" / "simcse_unsup" / yaml_name).read_text()
        assert ("pooler: mean" in text) == (yaml_name == "stsb_minilm.yaml")


def test_readme_commands_for_own_data_run_the_chosen_simcse_setting():
    """Every SimCSE command of the READMEs trains with the setting chosen on dev for the offline MiniLM (mean pooling,
    lr 1e-5): through stsb_minilm.yaml, or through the library defaults, which resolve to the same."""
    parser = load_recipe(REPO_ROOT / "recipes" / "simcse_unsup.py").parser()
    for doc in DOCS:
        for language, block in code_blocks(doc):
            for argv, runnable in shell_commands(block) if language == "bash" else []:
                if not runnable or not any(token.endswith("simcse_unsup.py") for token in argv):
                    continue
                _, _, recipe_args = _recipe_argv(argv)
                old = Path.cwd()
                os.chdir(REPO_ROOT)
                try:
                    _, model_args, config = parser.parse_args_and_config(recipe_args)
                finally:
                    os.chdir(old)
                if "minilm" not in model_args.model_name_or_path.lower():
                    continue
                assert config.learning_rate == 1e-5, shlex.join(argv)
                assert config.pooler in ("mean", None), shlex.join(argv)  # None: MiniLM's own, mean


def test_the_small_data_bench_runs_the_readme_own_data_commands_as_written(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO_ROOT / "bench"))
    import small_data

    readme = " ".join((REPO_ROOT / "README.md").read_text(encoding="utf-8").replace("\\\n", " ").split())
    examples = {False: ("my_intents.csv", "outputs/my-intents"), True: ("my_faq.csv", "outputs/my-faq")}
    for pairs, command in small_data.OUR_COMMANDS.items():
        data, out = examples[pairs]
        assert command.format(data=data, out=out) in readme, command


# Where each timed `make` target's duration is quoted: (file, the start of the quoting line).
QUOTED_DURATIONS = {
    "demo": [("README.md", "make demo "), ("Makefile", "demo:")],
    "test": [("README.md", "make test "), ("Makefile", "test:")],
    "simcse": [("Makefile", "simcse:")],
}


def test_the_quoted_durations_are_the_ones_measured_on_an_idle_machine():
    """README and `make help` durations are bench/timings.py's idle measurements rounded to the minute, not guesses
    (a new user ran `make demo` for 90 minutes against a README that said 6)."""
    import json

    timings = json.loads((REPO_ROOT / "bench" / "results" / "timings.json").read_text(encoding="utf-8"))["targets"]
    for target, places in QUOTED_DURATIONS.items():
        timing = timings[target]
        assert timing["idle"], f"bench/results/timings.json: {target} was not timed on an idle machine"
        for file, start in places:
            line = next(x for x in (REPO_ROOT / file).read_text(encoding="utf-8").splitlines() if x.startswith(start))
            quoted = re.findall(r"~(\d+) min", line)
            assert quoted == [str(timing["minutes"])], f"{file}: {line!r} should quote ~{timing['minutes']} min"
