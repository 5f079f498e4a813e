"""Model cards (`README.md` of an output dir or Hub repo): YAML metadata via huggingface_hub, then Markdown."""

import os

from huggingface_hub import ModelCardData

__all__ = ["base_model_id", "markdown_table", "render_model_card"]


def base_model_id(name_or_path: str) -> str | None:
    """The Hub id of a base model, or None for a local folder (the Hub rejects paths as `base_model`)."""
    return None if not name_or_path or os.path.isdir(name_or_path) else name_or_path


def markdown_table(rows: dict, header: tuple[str, str] = ("", "")) -> str:
    lines = [f"| {header[0]} | {header[1]} |", "| --- | --- |"]
    for key, value in rows.items():
        if isinstance(value, float):
            value = f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.2e}"
        lines.append(f"| {key} | {value} |")
    return "\n".join(lines)


def render_model_card(
    *,
    title: str,
    summary: str,
    base_model: str,
    datasets: list[str],
    pipeline_tag: str,
    tags: list[str],
    sections: dict[str, str],
    library_name: str = "transformers",
) -> str:
    """YAML front matter (base model, datasets, tags, pipeline) + a title, a summary and one `##` section per entry."""
    data = ModelCardData(
        base_model=base_model_id(base_model),
        datasets=[d for d in datasets if d and not os.path.exists(d)] or None,
        library_name=library_name,
        pipeline_tag=pipeline_tag,
        tags=tags,
    )
    body = [f"# {title}", summary] + [f"## {heading}\n\n{text}" for heading, text in sections.items()]
    return f"---\n{data.to_yaml()}\n---\n\n" + "\n\n".join(body) + "\n"
