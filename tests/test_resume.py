"""Exact resume: a run killed with SIGKILL right after writing a checkpoint, resumed with --resume_from_checkpoint,
ends with exactly the weights of an uninterrupted run with the same seed (which itself is reproducible). Both recipes,
tiny model, real data."""

import signal
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers import REPO_ROOT
from tests.test_recipe_supcon_pair import run

pytestmark = pytest.mark.slow

COMMON = ["--max_steps", "6", "--eval_strategy", "steps", "--eval_steps", "2", "--save_strategy", "steps"]
COMMON += [
    "--save_steps",
    "2",
    "--load_best_model_at_end",
    "false",
    "--learning_rate",
    "1e-3",
    "--disable_tqdm",
    "true",
]
FLAGS = {
    "supcon_pair": [
        "--config", str(REPO_ROOT / "recipes" / "supcon_pair" / "mrpc_minilm.yaml"),
        "--max_train_samples", "64", "--max_eval_samples", "32", "--per_device_train_batch_size", "8",
        "--max_length", "48", "--warmup_steps", "0",
    ],
    "simcse_unsup": [
        "--config", str(REPO_ROOT / "recipes" / "simcse_unsup" / "stsb_minilm.yaml"),
        "--max_train_samples", "96", "--max_eval_samples", "32", "--per_device_train_batch_size", "8",
        "--evaluate_base", "false",
        "--pooler", "cls",  # the training-only MLP must resume too (the offline default pools by mean: no MLP)
    ],
}  # fmt: skip
WEIGHT_FILES = {"supcon_pair": ["model.safetensors"], "simcse_unsup": ["model.safetensors", "simcse_mlp.safetensors"]}


def weights(out, recipe) -> dict[str, torch.Tensor]:
    return {f"{name}:{k}": v for name in WEIGHT_FILES[recipe] for k, v in load_file(out / name).items()}


@pytest.mark.parametrize("recipe", ["supcon_pair", "simcse_unsup"])
def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path, recipe, tiny_encoder_dir, data_dir):
    script = str(REPO_ROOT / "recipes" / f"{recipe}.py")
    flags = [*FLAGS[recipe], *COMMON, "--model_name_or_path", tiny_encoder_dir, "--data_dir", str(data_dir)]

    run([sys.executable, script, *flags, "--output_dir", str(tmp_path / "full")], cwd=tmp_path)
    run([sys.executable, script, *flags, "--output_dir", str(tmp_path / "again")], cwd=tmp_path)

    crashed = tmp_path / "crashed"
    killed = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "tests" / "kill_after_save.py"),
            recipe,
            "4",
            *flags,
            "--output_dir",
            str(crashed),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert (crashed / "checkpoint-4" / "trainer_state.json").exists()
    assert not (crashed / "model.safetensors").exists() and not (crashed / "checkpoint-6").exists()

    run(
        [
            sys.executable,
            script,
            *flags,
            "--output_dir",
            str(crashed),
            "--resume_from_checkpoint",
            str(crashed / "checkpoint-4"),
        ],
        cwd=tmp_path,
    )

    full, again, resumed = (weights(tmp_path / d, recipe) for d in ("full", "again", "crashed"))
    assert full.keys() == again.keys() == resumed.keys()
    for name, tensor in full.items():
        assert torch.equal(tensor, again[name]), f"same seed, different weights: {name}"
        assert torch.equal(tensor, resumed[name]), f"resumed run differs: {name}"
