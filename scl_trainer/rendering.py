"""Text that leaves the library: the one way a value reaches a card, a report or a table (`render`), and the one
check of a field written to a line-based output (`check_line_field`).

Cards, `compare.md` and the compare section of a card are Jinja templates rendered by `render`, whose every `{{ }}`
output is plain text unless the template says otherwise:
- by default a value is escaped for Markdown and HTML (`escape_markdown`): table cells, tags, entities, links,
  code spans and emphasis cannot start, and line breaks (every one `str.splitlines` knows) are folded, so a value
  cannot begin a heading, a list item or a table row of its own;
- `| code` makes the value one inline code span, with a fence of backticks longer than any run inside it (and its
  pipes escaped, as a table cell needs);
- `| line` writes it as one line inside a fenced code block (no line break, no fence that would close the block);
- `| py` writes it into a code block as a Python (and JSON) string literal, `json.dumps` quoting with every
  character that is not printable (line and paragraph separators, controls, format characters) escaped;
- `| shell` quotes it as one word of a shell command (`shlex.quote`), for command lines shown in a card;
- an `Inert` value (numbers, the YAML metadata, tables built here) is written as it is.

A line-based output (the TSV of `predict`, the ids file of `embed`) takes a field only when it holds no character any
reader takes for a line break and no field separator (`check_line_field`).
"""

import json
import re
import shlex
from pathlib import Path

from .errors import DataError
from .records import where

__all__ = [
    "Inert",
    "check_line_field",
    "code_block_line",
    "code_span",
    "escape_markdown",
    "python_literal",
    "render",
    "shell_word",
]


class Inert(str):
    """Text already made safe for where it goes (rendered by this module, or a number): written as it is."""


# What Markdown or HTML would read as structure in a value written into a card: table cells (|, and the backslash
# that could cancel our escape), HTML tags and entities, links and images ([ ]), code spans (a backtick cannot be
# escaped inside one, so it becomes a quote), emphasis (*, and _ outside a word: `macro_f1` stays as it is). A
# leading # + - > or digit-dot would start a block only at the start of a line, which a folded value never is.
MARKUP = {"\\": "\\\\", "|": "\\|", "[": "\\[", "]": "\\]", "<": "&lt;", ">": "&gt;", "&": "&amp;", "`": "'",
          "*": "\\*"}  # fmt: skip
EDGE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")  # an underscore not between two letters or digits


def one_line(value) -> str:
    """`value` as text on one line: every run of whitespace, including every line break `str.splitlines` knows
    (\\n, \\r, \\v, \\f, \\x1c-\\x1e, \\x85, U+2028, U+2029), becomes one space (a value's own spaces at its ends
    are kept: one space cannot start a block); other non-printable characters go."""
    text = re.sub(r"\s+", " ", str(value))  # `\s`: what `str.isspace` knows, which holds every line break
    return "".join(ch for ch in text if ch.isprintable())


def escape_markdown(value):
    """A value printed into a card as plain text (the default of `render`). Numbers and `Inert` text as they are."""
    if value is None or isinstance(value, (bool, int, float, Inert)):
        return value
    escaped = "".join(MARKUP.get(char, char) for char in one_line(value))
    return EDGE_UNDERSCORE.sub(r"\\_", escaped)


def code_span(value) -> Inert:
    """`value` as one inline code span: the fence is one backtick more than the longest run of backticks inside, and
    a pipe is `\\|` (inside a table a bare one would end the cell, code span or not)."""
    text = one_line(value).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return Inert(f"{fence}{pad}{text}{pad}{fence}")


def code_block_line(value) -> Inert:
    """`value` as one line inside a fenced code block: no line break, and no fence to close the block."""
    return Inert(one_line(value).replace("```", "'''"))


def python_literal(value) -> Inert:
    """`value` as a string literal valid in Python and JSON (in a code block): `json.dumps`, and every character that
    is not printable written as its \\u escape, so the literal is one line that no reader breaks."""
    text = json.dumps(str(value), ensure_ascii=False)
    return Inert("".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in text))


def shell_word(value) -> Inert:
    """`value` as one word of a shell command line (`shlex.quote`), on one line."""
    return Inert(shlex.quote(one_line(value)))


def render(template: str | Path, trim_blocks: bool = True, **values) -> str:
    """A template (its text, or the path of a file) rendered with every value escaped unless marked (see the
    module's docstring). `trim_blocks`: Jinja's block whitespace control (the model cards are written without it,
    as `huggingface_hub`'s card templates are)."""
    from jinja2 import Environment  # here: the checks above run before any rendering stack loads

    text = template.read_text(encoding="utf-8") if isinstance(template, Path) else template
    environment = Environment(trim_blocks=trim_blocks, lstrip_blocks=trim_blocks, finalize=escape_markdown)
    environment.filters.update(code=code_span, line=code_block_line, py=python_literal, shell=shell_word)
    return environment.from_string(text).render(**values)


# Field separators of our line-based outputs: the tab (TSV).
SEPARATORS = "\t"


def check_line_field(value: str, source, row: int | None, column: str | None, what: str = "value") -> str:
    """`value` when it can be one field of a line: no line break of any reader (`str.splitlines`: \\n, \\r, \\v, \\f,
    \\x1c-\\x1e, \\x85, U+2028, U+2029) and no tab; else a `DataError` naming the file, row and column."""
    if len(f"x{value}x".splitlines()) > 1 or any(sep in value for sep in SEPARATORS):
        raise DataError(
            f"{where(source, row, column)}: the {what} {value!r} holds a line break or a tab, which would break the "
            "lines of the output"
        )
    return value
