"""Turn one completion into response strings, whatever shape the model chose.

Handles numbered and bulleted lists, quotes, blank lines, preambles ("Here are ten responses:"),
trailing commentary, JSON arrays (also of objects) and Markdown code fences.
"""

from __future__ import annotations

import json
import re

FENCE = re.compile(r"```[a-zA-Z]*\s*\n?(.*?)```", re.DOTALL)
ENUMERATOR = re.compile(
    r"^\s*(?:(?:response|answer|example|student)\s*#?\s*\d+\s*[:.)-]\s*|\(?\d{1,3}\s*[.):\]-]\s+|\(?\d{1,3}\s*[.):\]](?!\d)\s*|[-*•·–—]\s+|#\d+\s*[:.)-]?\s*)",
    re.IGNORECASE,
)
PREAMBLE = re.compile(
    r"^\s*(?:here\s+(?:are|is)|sure|certainly|of course|okay|ok[,!.]|below\s+are|the following|these are"
    r"|i\s+(?:have\s+)?(?:wrote|written|will write|can write)|new (?:student )?responses?)\b",
    re.IGNORECASE,
)
HEADING = re.compile(r"^\s*(?:#+\s.*|\*\*[^*]+\*\*:?|[A-Z][\w ]{0,40}:)\s*$")
QUOTES = "\"'“”‘’«»`"
JSON_TEXT_KEYS = ("text", "response", "answer", "content")


def _strip_quotes(text: str) -> str:
    text = text.strip()
    for _ in range(2):
        if len(text) >= 2 and text[0] in QUOTES and text[-1] in QUOTES:
            text = text[1:-1].strip()
    text = re.sub(r"^\*\*(.*)\*\*$", r"\1", text).strip()
    return text


def _from_json(text: str) -> list[str] | None:
    start, end = text.find("["), text.rfind("]")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(text[start : end + 1])
    except (json.JSONDecodeError, ValueError):
        return None
    if not isinstance(value, list):
        return None
    out = []
    for entry in value:
        if isinstance(entry, str):
            out.append(entry)
        elif isinstance(entry, dict):
            found = next((entry[k] for k in JSON_TEXT_KEYS if isinstance(entry.get(k), str)), None)
            if found is not None:
                out.append(found)
    return out if out or not value else None


def parse_responses(completion: str) -> list[str]:
    """Response strings in order; empty list for an empty or unusable completion."""
    if not completion or not completion.strip():
        return []
    text = completion.replace("\r\n", "\n").replace("\r", "\n")
    fenced = FENCE.findall(text)
    if fenced:
        text = "\n".join(fenced)
    elif text.count("```") == 1:  # a fence opened but truncated by max_tokens
        before, after = text.split("```", 1)
        text = after.split("\n", 1)[1] if after.strip() and "\n" in after else before
    parsed = _from_json(text)
    if parsed is not None:
        return [r for r in (_strip_quotes(" ".join(p.split())) for p in parsed) if r]
    lines = text.split("\n")
    enumerated = [bool(ENUMERATOR.match(line)) for line in lines]
    any_enumerated = sum(enumerated) >= 2
    items: list[list[str]] = []
    current: list[str] | None = None
    for line, is_item in zip(lines, enumerated, strict=True):
        stripped = line.strip()
        if not stripped:
            current = None
            continue
        if is_item:
            body = ENUMERATOR.sub("", line, count=1)
            body = ENUMERATOR.sub("", body, count=1).strip()  # "- Response 3: ..."
            current = [body]
            items.append(current)
            continue
        if any_enumerated:
            # Inside a list, an unmarked line continues the current item; outside it is a preamble
            # or closing remark, which is dropped.
            if current is not None and not PREAMBLE.match(stripped):
                current.append(stripped)
            continue
        if PREAMBLE.match(stripped) and stripped.endswith(":"):
            continue
        if HEADING.match(stripped):
            continue
        items.append([stripped])
    out = []
    for parts in items:
        joined = _strip_quotes(" ".join(" ".join(parts).split()))
        if joined and not (PREAMBLE.match(joined) and joined.endswith(":")):
            out.append(joined)
    return out
