"""Both recipes under `accelerate launch` with 2 CPU processes (recipes/accelerate_configs/cpu_ddp.yaml): a few steps,
negatives gathered from both processes (seen in the logged negatives per anchor), one save by rank 0."""

import json
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT
from tests.test_distributed import free_port
from tests.test_recipe_supcon_pair import run

pytestmark = pytest.mark.slow

LAUNCH = [
    str(Path(sys.executable).parent / "accelerate"), "launch",
    "--config_file", str(REPO_ROOT / "recipes" / "accelerate_configs" / "cpu_ddp.yaml"),
]  # fmt: skip


def logged(out: Path, key: str) -> list[float]:
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    return [log[key] for log in history if key in log]


def test_supcon_pair_two_processes(tmp_path, tiny_encoder_dir):
    # Sequential batches of 4 alternate between the processes: rows 0-3 (all label 1) on process 0, rows 4-7
    # (all label 0) on process 1, and so on. Alone, a process sees no negative at all; with both processes' rows,
    # every anchor has 4.
    words = "the house near school good room price floor new city market company".split()
    lines = ["text_a\ttext_b\tlabel"]
    for i in range(24):
        label = 1 if i % 8 < 4 else 0
        lines.append(f"{words[i % 12]} {words[(i + 3) % 12]}\t{words[(i + 5) % 12]} {words[(i + 7) % 12]}\t{label}")
    data = tmp_path / "pairs.tsv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "pair"
    run(
        [
            *LAUNCH, "--main_process_port", str(free_port()), str(REPO_ROOT / "recipes" / "supcon_pair.py"),
            "--config", str(REPO_ROOT / "recipes" / "supcon_pair" / "mrpc_minilm.yaml"),
            "--model_name_or_path", tiny_encoder_dir, "--dataset_name", str(data), "--validation_file", str(data),
            "--output_dir", str(out), "--per_device_train_batch_size", "4", "--train_sampling_strategy", "sequential",
            "--max_steps", "3", "--logging_steps", "1", "--eval_strategy", "no", "--save_strategy", "no",
            "--load_best_model_at_end", "false", "--max_length", "16", "--use_cpu", "true",
        ],
        cwd=tmp_path,
    )  # fmt: skip
    assert logged(out, "supcon_negatives_per_anchor") == [4.0, 4.0, 4.0]
    assert logged(out, "supcon_no_positive_share") == [0.0, 0.0, 0.0]
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 3 and (out / "model.safetensors").exists() and (out / "README.md").exists()
    assert not [p.name for p in out.iterdir() if p.name.startswith("checkpoint")]


def test_simcse_two_processes(tmp_path, tiny_encoder_dir, data_dir):
    out = tmp_path / "simcse"
    run(
        [
            *LAUNCH, "--main_process_port", str(free_port()), str(REPO_ROOT / "recipes" / "simcse_unsup.py"),
            "--config", str(REPO_ROOT / "recipes" / "simcse_unsup" / "stsb_minilm.yaml"),
            "--model_name_or_path", tiny_encoder_dir, "--data_dir", str(data_dir), "--output_dir", str(out),
            "--max_train_samples", "64", "--max_eval_samples", "16", "--per_device_train_batch_size", "4",
            "--max_steps", "3", "--logging_steps", "1", "--eval_strategy", "no", "--save_strategy", "no",
            "--load_best_model_at_end", "false", "--evaluate_base", "false", "--use_cpu", "true",
        ],
        cwd=tmp_path,
    )  # fmt: skip
    # 4 sentences = 8 rows per process, alone at most 8 - 2 = 6 negatives per anchor; with both processes 16 rows:
    # 14, minus the masked duplicates (inputs equal after lower-casing/truncation) spread over the 16 anchors.
    negatives, masked = logged(out, "negatives_per_anchor"), logged(out, "masked_duplicates")
    assert len(negatives) == 3 and min(negatives) > 6
    assert [n + m / 16 for n, m in zip(negatives, masked)] == [14.0, 14.0, 14.0]
    assert (out / "model.safetensors").exists() and (out / "modules.json").exists()


def test_processes_that_would_each_train_alone_are_refused(tmp_path, tiny_encoder_dir, data_dir):
    """Two processes launched, but without --use_cpu on a machine without GPUs each would see a world of one."""
    import subprocess

    result = subprocess.run(
        [
            *LAUNCH, "--main_process_port", str(free_port()), str(REPO_ROOT / "recipes" / "supcon_pair.py"),
            "--model_name_or_path", tiny_encoder_dir, "--data_dir", str(data_dir), "--output_dir", str(tmp_path / "o"),
            "--max_steps", "1",
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode != 0
    assert "2 processes were launched but training sees 1: on a machine without GPUs pass --use_cpu true" in (
        result.stdout + result.stderr
    )
    assert not (tmp_path / "o").exists()
