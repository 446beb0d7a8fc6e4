"""Scorers: anything that turns responses into label probabilities, and the directories they live in.

Every saved model is a directory holding ``synthgrade.json`` (:class:`ModelInfo`) next to its weights.
``load_scorer`` opens any such directory (a fine-tuned teacher, a distilled student, a TF-IDF baseline,
an ONNX export) and returns a :class:`Scorer` with scikit-learn style ``predict`` / ``predict_proba``
over response tables. Scoring needs only ``item_id`` and the response when the model carries an item bank.

The package: ``info`` (``synthgrade.json`` and model directories), ``inputs`` (rows -> model inputs), ``scorer``
(the :class:`Scorer` interface and its save/load template), ``padding`` (length-sorted batches) and ``kinds``
(the one kind table and :func:`load_scorer`).
"""

from synthgrade.modeling.info import (
    METADATA_FILE,
    MODEL_FILE_ERRORS,
    InputMode,
    ItemEntry,
    ModelInfo,
    new_model_directory,
    reading_model_files,
)
from synthgrade.modeling.inputs import (
    REFERENCE_MARK,
    build_inputs,
    choose_input_mode,
    context_parts,
    inputs_from_columns,
    item_bank_from,
    item_context,
)
from synthgrade.modeling.kinds import (
    DEFAULT_KIND,
    SCORER_KINDS,
    SPEC_LOADERS,
    ScorerKind,
    import_target,
    load_scorer,
    register_kind,
    scorer_class_of,
    trainable_kinds,
)
from synthgrade.modeling.padding import MAX_PADDING_SHARE, length_order, padded_arrays, similar_length_chunks
from synthgrade.modeling.scorer import Scorer

__all__ = [
    "DEFAULT_KIND",
    "InputMode",
    "ItemEntry",
    "MAX_PADDING_SHARE",
    "METADATA_FILE",
    "MODEL_FILE_ERRORS",
    "ModelInfo",
    "REFERENCE_MARK",
    "SCORER_KINDS",
    "SPEC_LOADERS",
    "Scorer",
    "ScorerKind",
    "build_inputs",
    "choose_input_mode",
    "context_parts",
    "import_target",
    "inputs_from_columns",
    "item_bank_from",
    "item_context",
    "length_order",
    "load_scorer",
    "new_model_directory",
    "padded_arrays",
    "reading_model_files",
    "register_kind",
    "scorer_class_of",
    "similar_length_chunks",
    "trainable_kinds",
]
