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


def test_supcon_pair_two_processes(tmp_path, tiny_encoder_dir, data_dir):
    out = tmp_path / "pair"
    run(
        [
            *LAUNCH, "--main_process_port", str(free_port()), str(REPO_ROOT / "recipes" / "supcon_pair.py"),
            "--config", str(REPO_ROOT / "recipes" / "supcon_pair" / "mrpc_minilm.yaml"),
            "--model_name_or_path", tiny_encoder_dir, "--data_dir", str(data_dir), "--output_dir", str(out),
            "--max_train_samples", "32", "--max_eval_samples", "16", "--per_device_train_batch_size", "4",
            "--max_steps", "3", "--logging_steps", "1", "--eval_strategy", "no", "--save_strategy", "no",
            "--load_best_model_at_end", "false", "--max_length", "48",
        ],
        cwd=tmp_path,
    )  # fmt: skip
    # 4 rows per process: alone, an anchor has at most 3 negatives; with both processes' rows up to 7.
    assert max(logged(out, "supcon_negatives_per_anchor")) > 3
    state = json.loads((out / "trainer_state.json").read_text())
    assert state["global_step"] == 3 and (out / "model.safetensors").exists() and (out / "README.md").exists()
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("checkpoint")) == []


def test_simcse_two_processes(tmp_path, tiny_encoder_dir, data_dir):
    out = tmp_path / "simcse"
    run(
        [
            *LAUNCH, "--main_process_port", str(free_port()), str(REPO_ROOT / "recipes" / "simcse_unsup.py"),
            "--config", str(REPO_ROOT / "recipes" / "simcse_unsup" / "stsb_minilm.yaml"),
            "--model_name_or_path", tiny_encoder_dir, "--data_dir", str(data_dir), "--output_dir", str(out),
            "--max_train_samples", "64", "--max_eval_samples", "16", "--per_device_train_batch_size", "4",
            "--max_steps", "3", "--logging_steps", "1", "--eval_strategy", "no", "--save_strategy", "no",
            "--load_best_model_at_end", "false", "--evaluate_base", "false",
        ],
        cwd=tmp_path,
    )  # fmt: skip
    # 4 sentences = 8 rows per process; with both processes 16 rows: 16 - 2 = 14 negatives per anchor.
    assert logged(out, "negatives_per_anchor") == [14.0, 14.0, 14.0]
    assert logged(out, "masked_duplicates") == [0.0, 0.0, 0.0]
    assert (out / "model.safetensors").exists() and (out / "modules.json").exists()
