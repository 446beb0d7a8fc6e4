"""What a saved model directory holds besides its weights: ``synthgrade.json`` (:class:`ModelInfo`), and the
rules for writing a new directory and reading a damaged one."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from synthgrade.errors import SynthgradeError
from synthgrade.io import atomic_directory, read_json, write_json
from synthgrade.modelcard import write_model_card

METADATA_FILE = "synthgrade.json"
InputMode = Literal["response", "pair"]


class ItemEntry(BaseModel):
    item_text: str | None = None
    reference: str | None = None


class ModelInfo(BaseModel):
    """What ``synthgrade.json`` records about a saved scorer."""

    model_config = ConfigDict(extra="allow")

    kind: str = Field(description="transformer, static, tfidf, onnx, ...: picks the loader")
    labels: list[str]
    input_mode: InputMode = "response"
    max_length: int = 128
    item_bank: dict[str, ItemEntry] = Field(default_factory=dict)
    base_model: str | None = None
    ordinal: bool = False
    parameters: int | None = None
    #: Where the training rows came from: mix manifest, synthetic sets (generator, temperature, filter), teacher.
    provenance: dict[str, Any] = Field(default_factory=dict)
    #: Training arguments, curve and validation metrics (validation = human-coded, never test).
    training: dict[str, Any] = Field(default_factory=dict)
    #: Test-set results recorded by ``evaluate`` (metrics with CIs and the hash of the test set).
    evaluations: list[dict[str, Any]] = Field(default_factory=list)

    def save(self, directory: str | Path) -> None:
        """Write ``synthgrade.json`` and the model card rendered from it, so the two never disagree."""
        write_json(Path(directory) / METADATA_FILE, self.model_dump(mode="json"))
        write_model_card(directory, self)

    @classmethod
    def load(cls, directory: str | Path) -> ModelInfo:
        path = Path(directory) / METADATA_FILE
        if not path.exists():
            raise SynthgradeError(f"{directory}: not a synthgrade model directory (no {METADATA_FILE})")
        try:
            return cls.model_validate(read_json(path))
        except ValueError as exc:
            raise SynthgradeError(f"{path}: invalid model metadata ({str(exc).splitlines()[0]})") from None


#: What reading a saved model's own files raises when one is missing, truncated or edited by hand.
#: EOFError: numpy reading an empty (0-byte) file; click would take it for Ctrl-D and abort with exit 130.
MODEL_FILE_ERRORS: tuple[type[Exception], ...] = (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile)  # .npz are zips


@contextmanager
def reading_model_files(directory: Path, kind: str, errors: tuple[type[Exception], ...] = MODEL_FILE_ERRORS) -> Iterator[None]:
    """One clear error naming the directory and kind for a damaged model file, never a traceback."""
    try:
        yield
    except errors as exc:
        raise SynthgradeError(f"{directory}: damaged {kind} model files ({str(exc).splitlines()[0]})") from None


@contextmanager
def new_model_directory(out: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """A staging folder that replaces ``out`` only when everything was written (no partial models).

    An existing non-empty ``out`` is replaced only with ``overwrite`` and only if it is a model directory.
    """
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        if not overwrite:
            raise SynthgradeError(f"{out}: already exists and is not empty; choose another --out or pass --overwrite")
        if not (out / METADATA_FILE).exists():
            raise SynthgradeError(f"{out}: not a model directory; refusing to replace it")
    with atomic_directory(out) as staging:
        yield staging
