"""Where scl_trainer writes, and the one set of rules every written path follows (model dirs, predictions, vectors,
compare reports):

- `check_output_dir` / `check_output_file`: nothing read or owned by the user is overwritten (real paths compared, a
  folder holding files we did not write is refused unless `--overwrite_output_dir`, the base model never);
- `OutputLock`: one writer per output; a second process gets an error naming the holder's pid (the operating system
  drops the lock of a process that dies, so a killed run never blocks the next one);
- `ResumeState`: a partial output records the command that writes it, and `--resume` checks that record before it
  touches anything;
- `check_free_space`: the final save must fit on the disk, found before the first step.
"""

import json
import logging
import os
import shutil
from pathlib import Path

from .errors import OutputDirError

__all__ = [
    "CARD_MARKER",
    "LOCK_NAME",
    "MANIFEST_NAME",
    "OutputLock",
    "ResumeState",
    "RunManifest",
    "check_free_space",
    "check_output_dir",
    "check_output_file",
    "hold_output_lock",
    "release_output_locks",
    "model_fingerprint",
    "open_no_follow",
    "open_output",
    "refuse_symlink",
]

logger = logging.getLogger(__name__)

# The lock file inside a locked folder. `Trainer.push_to_hub` skips `_*` files, so it is never uploaded.
LOCK_NAME = "_scl_trainer.lock"

# What a run of scl_trainer leaves in its output dir (the Trainer's, the card's, the sentence-transformers files): a
# folder holding only these is a previous run; anything else is the user's.
RUN_FILES = ("config.json", "model.safetensors", "pytorch_model.bin", "training_args.bin", "trainer_state.json",
             "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json",
             "simcse_mlp.safetensors", "predictions.tsv", "vocab.txt", "special_tokens_map.json", "added_tokens.json",
             "merges.txt", "sentencepiece.bpe.model", "spiece.model")  # fmt: skip
RUN_PATTERNS = ("*_results.json", "tokenizer*", "*.png", "checkpoint-*", "runs", "1_Pooling", "2_Normalize")
CARD_MARKER = "scl_trainer"  # in every card's tags


def _is_run_file(path: Path) -> bool:
    if path.name == "README.md":  # our model card: YAML front matter whose tags list scl_trainer
        text = path.read_text(encoding="utf-8", errors="replace")
        front = text.split("\n---", 1)[0] if text.startswith("---\n") else ""
        return f"\n- {CARD_MARKER}\n" in front + "\n"
    return path.name in RUN_FILES or any(path.match(pattern) for pattern in RUN_PATTERNS)


# The record of what runs wrote into an output dir (`RunManifest`). `Trainer.push_to_hub` skips `_*` files.
MANIFEST_NAME = "_scl_trainer_manifest.json"


class RunManifest:
    """What scl_trainer runs wrote into an output dir, recorded in the folder itself (`MANIFEST_NAME`): the entries
    (top-level names) a run wrote, whether the last run finished, and whether it was in its final save. Written when
    a run claims the folder, before its first file; a checkpoint's name is recorded before the checkpoint is written
    (`BaseTrainer._save_checkpoint`), the final save's files once it is done, with `saving` set while it runs (so
    files of a save cut short by a kill are still known as the run's). Only recorded entries may be replaced or
    removed by a later run or `--overwrite_output_dir`."""

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.path = self.folder / MANIFEST_NAME

    def read(self) -> dict | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) and isinstance(data.get("entries"), list) else None
        except (OSError, ValueError):
            return None

    def present(self) -> list[Path]:
        """The folder's entries, our lock and manifest aside."""
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir() if p.name not in (LOCK_NAME, MANIFEST_NAME))

    def owned(self) -> set[str]:
        """The entries runs recorded writing (those of a final save cut short included)."""
        data = self.read() or {}
        owned = set(data.get("entries", []))
        if data.get("saving"):
            owned |= {p.name for p in self.present() if _is_run_file(p)}
        return owned

    def write(self, entries, finished: bool = False, saving: bool = False, foreign=()) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        data = {"written_by": "scl_trainer", "entries": sorted(set(entries)), "finished": finished, "saving": saving,
                "foreign": sorted(set(foreign))}  # fmt: skip
        partial = self.path.with_name(self.path.name + ".partial")
        with open_output(partial) as f:
            f.write(json.dumps(data, indent=2))
        os.replace(partial, self.path)  # never a half-written record

    def claim(self) -> None:
        """Start the record of a folder that has none (a run of the Python API, which is not refused a folder): what
        is there now is someone else's (`foreign`), never recorded as written by a run."""
        if self.read() is None:
            self.write([], foreign=[p.name for p in self.present()])

    def record(self, *names: str, present: bool = False, finished: bool | None = None, saving: bool = False):
        """Add `names` (and with `present`, every entry now in the folder but those that were there before the run
        claimed it) to the entries."""
        data = self.read() or {"entries": [], "finished": False, "foreign": []}
        foreign = set(data.get("foreign", []))
        now = {p.name for p in self.present()} - foreign if present else set()
        entries = set(data["entries"]) | set(names) | now
        self.write(entries, data.get("finished", False) if finished is None else finished, saving, foreign)


def check_output_dir(
    output_dir: str, overwrite: bool, resume_from_checkpoint, base_model: str | None = None, lock: bool = False
) -> None:
    """Claim `output_dir` for a run (`RunManifest`), or refuse it with the way out: the base model's folder (always);
    a folder holding anything no run recorded writing (a model saved by `save_pretrained`, a user's file), even with
    `--overwrite_output_dir`, naming the first such entry; a finished run, unless `--overwrite_output_dir`; an
    unfinished run with checkpoints, unless `--overwrite_output_dir` or `--resume_from_checkpoint` (never silently
    restarted). With `overwrite`, the recorded entries are removed first, so no stale file (an old `modules.json`)
    describes the new model. With `lock`, the folder is locked for the rest of the process before anything in it is
    removed or written (`hold_output_lock`): a second run into it is refused, naming the first."""
    out = Path(output_dir)
    base = Path(base_model).resolve() if base_model and os.path.isdir(base_model) else None
    if base is not None and out.exists() and out.resolve() == base:
        raise OutputDirError(
            f"output_dir {output_dir} is the folder of the base model (--model_name_or_path {base_model}): the run "
            "would overwrite its weights. Choose another --output_dir."
        )
    if out.exists() and not out.is_dir():
        raise OutputDirError(f"output_dir {output_dir} is a file; give the folder the model is written to")
    if lock:
        hold_output_lock(out, "--output_dir", folder=True)
    manifest = RunManifest(out)
    if resume_from_checkpoint:
        manifest.record(present=True, finished=False)  # the folder of the run being continued
        return
    owned = manifest.owned()
    entries = manifest.present()
    foreign = [p for p in entries if p.name not in owned]
    inside = [p for p in entries if base is not None and (p.resolve() == base or p.resolve() in base.parents)]
    if foreign or inside:
        first = (inside or foreign)[0]
        raise OutputDirError(
            f"output_dir {output_dir} holds {first.name}{' (the base model)' if inside else ''}, which no scl_trainer "
            f"run recorded writing ({len(foreign)} such entries): a run only replaces or removes what runs wrote "
            "there (see its _scl_trainer_manifest.json), even with --overwrite_output_dir. Move it, or choose an "
            "empty or new --output_dir."
        )
    data = manifest.read() or {}
    checkpoints = sorted((p for p in entries if p.name.startswith("checkpoint-") and p.name[11:].isdigit()),
                         key=lambda p: int(p.name[11:]))  # fmt: skip
    if entries and data.get("finished") and not overwrite:
        raise OutputDirError(
            f"output_dir {output_dir} already holds a finished run ({MANIFEST_NAME} records it). Pass "
            "--overwrite_output_dir to replace it, "
            "--resume_from_checkpoint to continue it, or another --output_dir."
        )
    if entries and not data.get("finished") and checkpoints and not overwrite:
        raise OutputDirError(
            f"output_dir {output_dir} holds an unfinished run (it stopped after {checkpoints[-1].name}). Continue it "
            f"with --resume_from_checkpoint {checkpoints[-1]}, or start over with --overwrite_output_dir."
        )
    if entries:
        for path in entries:
            shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        what = "the previous run" if data.get("finished") or overwrite else "an unfinished run without a checkpoint"
        logger.warning(f"output_dir {output_dir}: removed what {what} left ({len(entries)} entries)")
    manifest.write([], finished=False)  # claimed: everything written from now on is this run's


def check_output_file(
    output: str, inputs: dict[str, str | None], flag: str, model_dirs: dict[str, str | None] | None = None
) -> None:
    """An output file must be neither a directory nor any of `inputs` ({flag: path}), compared by real path (a
    symlinked folder or file is the same file), so that nothing read is overwritten by what is written; nor a file of
    a model folder (`model_dirs`, {flag: folder}: the model read, a run's output dir) that the model is made of (its
    config, weights, tokenizer, card: anything but `predictions.tsv`)."""
    path = Path(output)
    if path.is_dir():
        raise OutputDirError(f"--{flag} {output} is a directory; give the path of the file to write")
    for name, folder in (model_dirs or {}).items():
        inside = folder and os.path.isdir(folder) and os.path.realpath(path.parent) == os.path.realpath(folder)
        if (
            inside
            and path.name != "predictions.tsv"
            and (path.exists() or path.name == "README.md" or _is_run_file(path))
        ):
            raise OutputDirError(
                f"--{flag} {output} is a file of the model folder --{name} {folder}: writing it would break the "
                "model; choose another file name"
            )
    for name, source in inputs.items():
        if source and os.path.exists(source) and os.path.realpath(source) == os.path.realpath(output):
            raise OutputDirError(
                f"--{flag} {output} is the --{name} {source} (the same file): it would be overwritten; choose another"
            )


def refuse_symlink(path: str | os.PathLike) -> None:
    """A file the library creates (a lock, a partial output, a record) is never written through a symlink planted at
    its path: an `OutputDirError` naming it, not a write to wherever it points."""
    if os.path.islink(path):
        raise OutputDirError(f"{path} is a symbolic link; scl_trainer writes its own file there: remove the link")


def open_no_follow(path: str | os.PathLike, flags: int) -> int:
    """`os.open` that never follows a symlink at `path` (`O_NOFOLLOW`, and `refuse_symlink` for its message)."""
    refuse_symlink(path)
    try:
        return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError:
        refuse_symlink(path)  # planted between the check and the open
        raise


def open_output(path: str | os.PathLike, mode: str = "w"):
    """A text file the library writes (`w` or `a`), opened with `open_no_follow`."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    return os.fdopen(open_no_follow(path, flags), mode, encoding="utf-8")


class OutputLock:
    """An exclusive lock on one output: a folder (`<folder>/_scl_trainer.lock`, the folder is created) or a file
    (`<file>.lock` beside it). A second process asking for it gets an `OutputDirError` naming the holder's pid; the
    lock file is removed on `release`. A POSIX advisory lock (`flock`): the system releases it when its process dies,
    so a stale lock file never blocks. Where `fcntl` does not exist (Windows) nothing is locked.

        with OutputLock("out/predictions.tsv", "--output"):
            ...  # write it
    """

    def __init__(self, target: str | os.PathLike, flag: str, folder: bool = False):
        self.target, self.flag = Path(target), flag
        self.created = folder and not self.target.exists()  # removed again on release if nothing was written
        # The folder (of a file: its parent) is made now: a missing folder is never a late failure.
        (self.target if folder else self.target.parent).mkdir(parents=True, exist_ok=True)
        self.path = self.target / LOCK_NAME if folder else self.target.with_name(self.target.name + ".lock")
        self.fd: int | None = None

    def acquire(self) -> "OutputLock":
        try:
            import fcntl
        except ImportError:  # no advisory locks on this platform
            return self
        while True:
            fd = open_no_follow(self.path, os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 32).decode("ascii", errors="replace").strip() or "unknown"
                os.close(fd)
                raise OutputDirError(
                    f"{self.flag} {self.target} is in use by another scl_trainer process (pid {holder}; lock file "
                    f"{self.path}): wait for it to finish, or choose another {self.flag}"
                ) from None
            try:  # the holder may have released and removed the file between our open and lock: lock the new one
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)  # removed while still locked: no one can lock the old file after this
        finally:
            os.close(self.fd)
            self.fd = None
        if self.created and self.target.is_dir():  # made by this lock: removed if the run wrote nothing into it
            manifest = RunManifest(self.target)
            if not manifest.present() and not (manifest.read() or {}).get("entries"):
                manifest.path.unlink(missing_ok=True)
                if not any(self.target.iterdir()):
                    self.target.rmdir()

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


_HELD: list[OutputLock] = []


def hold_output_lock(target: str | os.PathLike, flag: str, folder: bool = False) -> OutputLock:
    """Lock `target` until this process ends (a training run's output dir: the lock lives as long as the run)."""
    import atexit

    lock = OutputLock(target, flag, folder).acquire()
    if not _HELD:
        atexit.register(release_output_locks)
    _HELD.append(lock)
    return lock


def release_output_locks() -> None:
    """Release what `hold_output_lock` holds (a recipe's end, or its error: a folder the lock created and nothing
    was written to is removed again)."""
    while _HELD:
        _HELD.pop().release()


# The files of a model folder that decide what it outputs: weights, configuration (the model's, the tokenizer's, the
# sentence-transformers pooling / Normalize / head files) and vocabularies. Not: its card, metrics, checkpoints.
MODEL_FILE_SUFFIXES = (".safetensors", ".bin", ".json", ".txt", ".model")
NOT_MODEL_FILES = ("README.md", "trainer_state.json", "predictions.tsv", LOCK_NAME, MANIFEST_NAME)


def model_fingerprint(name_or_path: str) -> dict:
    """What identifies a model for a resume check: its real path (or hub id) and the size and modification time of
    every file that decides its outputs (weights, config, pooling and Normalize modules, tokenizer, head; in
    subfolders too): a retrained model, or the same weights under another pooling, is another model."""
    if not os.path.isdir(name_or_path):
        return {"model": name_or_path}
    folder = Path(name_or_path).resolve()
    files = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        skipped = relative.parts[0].startswith("checkpoint-") or relative.parts[0] in ("runs", "logs")
        if skipped or not path.is_file() or path.suffix not in MODEL_FILE_SUFFIXES:
            continue
        if path.name in NOT_MODEL_FILES or path.name.endswith("_results.json"):
            continue
        files.append([relative.as_posix(), path.stat().st_size, path.stat().st_mtime_ns])
    return {"model": str(folder), "files": files}


class ResumeState:
    """The record beside a partial output (`<partial>.json`): the command that writes it (the settings that change
    the output: model, input, columns, threshold, format, ...) and how far it got. `check` runs before anything is
    touched: a partial output written by another command is an error naming what differs."""

    def __init__(self, partial: Path, command: dict):
        self.partial, self.command = partial, json.loads(json.dumps(command))  # JSON types, as they are read back
        self.path = partial.with_name(partial.name + ".json")

    def check(self) -> dict:
        """The recorded state (`{}` when there is no partial output to continue)."""
        if not self.partial.exists():
            return {}
        try:
            state = json.loads(self.path.read_text(encoding="utf-8"))
            recorded = state["command"]
        except (OSError, ValueError, KeyError, TypeError):
            raise OutputDirError(
                f"--resume: {self.partial} has no readable record of the command that wrote it ({self.path}); "
                "drop --resume to start over, or use another --output"
            ) from None
        differing = sorted(k for k in self.command.keys() | recorded.keys() if self.command.get(k) != recorded.get(k))
        if differing:
            key = differing[0]
            raise OutputDirError(
                f"--resume: {self.partial} was written by another command ({key}: {recorded.get(key)!r} then, "
                f"{self.command.get(key)!r} now; differing: {', '.join(differing)}); drop --resume to start over, "
                "or use another --output"
            )
        return state

    def save(self, **state) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open_output(tmp) as f:
            f.write(json.dumps({"command": self.command, **state}))
        os.replace(tmp, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def check_free_space(output_dir: str | os.PathLike, model_bytes: int, checkpoints: bool) -> None:
    """Refuse a run whose final save cannot fit on the disk of `output_dir` (the model's size, `model_bytes`); warn
    when a checkpoint (weights + the optimizer's two moment tensors: about 3x the model) may not."""
    folder = Path(output_dir).resolve()
    while not folder.exists():
        folder = folder.parent
    free = shutil.disk_usage(folder).free
    mib = 1 << 20
    if free < 1.1 * model_bytes:
        raise OutputDirError(
            f"output_dir {output_dir}: {free // mib} MiB free on its disk, the model alone needs about "
            f"{model_bytes // mib} MiB: the final save would fail. Free space or choose another --output_dir"
        )
    if checkpoints and free < 4 * model_bytes:
        logger.warning(
            f"output_dir {output_dir}: {free // mib} MiB free; a checkpoint (weights and optimizer state) needs about "
            f"{3 * model_bytes // mib} MiB: saving may fail (--save_strategy no, or free space)"
        )
