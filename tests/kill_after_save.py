"""Run a recipe and SIGKILL the process right after it has written the checkpoint of step N (a crash with nothing
cleaned up), for the resume tests.

    python tests/kill_after_save.py <supcon_pair|simcse_unsup> <N> <recipe flags...>
"""

import os
import signal
import sys
from pathlib import Path

from transformers import TrainerCallback

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scl_trainer import SCLConfig, SimCSEConfig  # noqa: E402
from scl_trainer.parser import ConfigArgumentParser  # noqa: E402
from tests.helpers import load_recipe  # noqa: E402


class KillAfterSave(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_save(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


if __name__ == "__main__":
    name, step, flags = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    recipe = load_recipe(name)
    config = SCLConfig if name == "supcon_pair" else SimCSEConfig
    parser = ConfigArgumentParser((recipe.ScriptArguments, recipe.ModelArguments, config))
    recipe.main(*parser.parse_args_and_config(flags), callbacks=[KillAfterSave(step)])
