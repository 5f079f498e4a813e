"""Shared by the scripts in bench/: each result file records the date and the exact command that measured it."""

import json
import sys
import time
from pathlib import Path

from jinja2 import Template

from scl_trainer.model_card import format_number

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def save_result(file_name: str, result: dict, append: bool = False) -> dict:
    """Writes `result` (+ date and command) to bench/results/<file_name>: a JSON file, or one more line of a JSONL
    file when `append`; prints it and returns it."""
    command = " ".join(["python", f"bench/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    result = {**result, "date": time.strftime("%Y-%m-%d"), "command": command}
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    if append:
        with (RESULTS_DIR / file_name).open("a") as f:
            f.write(json.dumps(result) + "\n")
    else:
        (RESULTS_DIR / file_name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


def save_markdown(name: str, result: dict) -> None:
    """Renders bench/<name>.md.j2 with `result` (and `fmt`, the number format of the reports) into
    bench/results/<name>.md: the table a README quotes line for line."""
    source = (Path(__file__).resolve().parent / f"{name}.md.j2").read_text(encoding="utf-8")
    markdown = Template(source, trim_blocks=True, lstrip_blocks=True).render(result=result, fmt=format_number)
    (RESULTS_DIR / f"{name}.md").write_text(markdown, encoding="utf-8")
