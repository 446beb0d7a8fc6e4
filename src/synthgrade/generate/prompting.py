"""Prompt templates: plain files with ``### system`` / ``### user`` sections and ``$name`` placeholders.

A template with a single ``### prompt`` section is a continuation prompt for base (not instruction-tuned)
models: its text is continued as it is, without a chat template. :func:`choose_templates` picks each
strategy's template for a run (chat or continuation, by model and backend).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from synthgrade.errors import SynthgradeError
from synthgrade.generate.config import GenerationConfig
from synthgrade.generate.strategies import STRATEGIES
from synthgrade.io import sha256_bytes
from synthgrade.models import REGISTRY

SECTION = re.compile(r"^###\s*(system|user|prompt)\s*$", re.MULTILINE | re.IGNORECASE)
#: The placeholder a rewriting strategy's template must hold (the response it rewrites).
SOURCE_PLACEHOLDER = re.compile(r"\$(?:source\b|\{source\})")
SINGLE_ITEM_TASK = "All responses answer the same open-ended question."


@dataclass(frozen=True)
class PromptTemplate:
    """A parsed template; ``hash`` identifies its exact text (recorded on every synthetic row)."""

    source: str
    system: str
    user: str
    hash: str
    #: True for a ``### prompt`` template: one user message whose text a base model continues.
    continuation: bool = False

    def render(self, **values: object) -> list[dict[str, str]]:
        """Chat messages with the placeholders filled; an unknown placeholder is a one-line error."""
        messages = []
        for role, text in (("system", self.system), ("user", self.user)):
            if not text.strip():
                continue
            try:
                content = string.Template(text).substitute({k: str(v) for k, v in values.items()})
            except KeyError as exc:
                known = ", ".join(f"${k}" for k in sorted(values))
                raise SynthgradeError(f"{self.source}: unknown placeholder ${exc.args[0]} (known: {known})") from None
            except ValueError as exc:
                raise SynthgradeError(f"{self.source}: bad placeholder ({exc}); write $$ for a literal dollar sign") from None
            messages.append({"role": role, "content": content.strip()})
        return messages


def parse_template(text: str, source: str) -> PromptTemplate:
    parts = SECTION.split(text)
    sections: dict[str, str] = {}
    if len(parts) == 1:
        sections["user"] = text  # a file without sections is all user message
    else:
        if parts[0].strip():
            raise SynthgradeError(f"{source}: text before the first '### system', '### user' or '### prompt' line")
        for role, body in zip(parts[1::2], parts[2::2], strict=True):
            sections[role.lower()] = body
    digest = sha256_bytes(text.encode("utf-8"))[:16]
    if "prompt" in sections:
        if set(sections) != {"prompt"}:
            raise SynthgradeError(f"{source}: a '### prompt' (continuation) template has no other sections")
        if not sections["prompt"].strip():
            raise SynthgradeError(f"{source}: the template has no '### prompt' text")
        return PromptTemplate(source, "", sections["prompt"], digest, continuation=True)
    if not sections.get("user", "").strip():
        raise SynthgradeError(f"{source}: the template has no '### user' text")
    return PromptTemplate(source, sections.get("system", ""), sections["user"], digest)


def load_template(path: str | Path | None, default: str) -> PromptTemplate:
    """A user template file, or the packaged default ``default`` (e.g. ``generate.txt``, ``grade.txt``)."""
    if path is None:
        text = resources.files("synthgrade.prompts").joinpath(default).read_text(encoding="utf-8")
        return parse_template(text, f"default prompt {default}")
    path = Path(path)
    if not path.is_file():
        raise SynthgradeError(f"{path}: no such prompt template file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SynthgradeError(f"{path}: prompt template is not UTF-8 text") from None
    return parse_template(text, str(path))


def choose_templates(config: GenerationConfig, continues_text: bool) -> dict[str, PromptTemplate]:
    """Each strategy's template: ``--prompt``, else its chat file, or its continuation file for a base model."""
    entry = REGISTRY.get(config.model)
    base_model = entry is not None and not entry.chat
    if base_model and not continues_text:
        raise SynthgradeError(
            f"model '{config.model}' is a base model that needs a continuation prompt; "
            f"the {config.backend} backend sends chat messages only: use --backend local or llamacpp"
        )
    templates = {}
    for name in config.strategy:
        strategy = STRATEGIES[name]
        template = load_template(config.prompt, strategy.base_template if base_model else strategy.template)
        if template.continuation and not continues_text:
            raise SynthgradeError(
                f"{template.source}: a '### prompt' continuation template needs --backend local or llamacpp, not {config.backend}"
            )
        if strategy.rewrites and not SOURCE_PLACEHOLDER.search(template.system + template.user):
            raise SynthgradeError(f"{template.source}: the {name} strategy rewrites one response; its template needs $source")
        if base_model and not template.continuation:
            raise SynthgradeError(
                f"{template.source}: model '{config.model}' is a base model without a chat template; "
                "give it a continuation template (one '### prompt' section)"
            )
        templates[name] = template
    return templates


def task_block(item_text: str | None, reference: str | None) -> str:
    """The item part of a prompt: question and reference answer when known, else a single-item note."""
    lines = []
    if isinstance(item_text, str) and item_text.strip():
        lines.append(f"Question: {item_text.strip()}")
    if isinstance(reference, str) and reference.strip():
        lines.append(f"Reference answer: {reference.strip()}")
    return "\n".join(lines) if lines else SINGLE_ITEM_TASK


def question_block(item_text: str | None) -> str:
    """The question alone (no reference answer), for prompts where a shown reference gets copied."""
    return task_block(item_text, None)


def example_lines(texts: list[str]) -> str:
    return "\n".join(f"- {' '.join(t.split())}" for t in texts) if texts else "(none)"


def one_line(text: str) -> str:
    """A response on one line, as prompts show it (so a copy of it can be told from the prompt's own lines)."""
    return " ".join(str(text).split())
