"""The table of scorer kinds, by name, as data only: both the registry (which imports the classes) and
``TrainingArguments`` (which checks ``--candidates`` names) read it, and neither may import the other."""

from __future__ import annotations

#: kind -> "module:Class" of its :class:`~synthgrade.scorers.base.TrainableScorer`, imported only when asked
#: for. The specs of ``train --model`` go to the first kind that accepts them, the default kind takes the rest.
KINDS: dict[str, str] = {
    "tfidf": "synthgrade.scorers.tfidf:TfidfScorer",
    "lexical": "synthgrade.scorers.lexical:LexicalScorer",
    "hybrid": "synthgrade.scorers.hybrid:HybridScorer",
    "ensemble": "synthgrade.scorers.ensemble:EnsembleScorer",
    "transformer": "synthgrade.scorers.transformer.modeling:TransformerScorer",
}
#: Any spec no other kind accepts is an encoder (registry name, folder or hub id) to fine-tune.
DEFAULT_KIND = "transformer"
