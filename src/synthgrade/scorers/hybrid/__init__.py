"""Hybrid scorer (kind ``hybrid``): lexical features and a *frozen* sentence encoder, logistic regression on top.

Fine-tuning a transformer on a few hundred labels on a CPU loses to logistic regression on word counts;
a frozen encoder does not overfit, and its embeddings carry the meaning that word overlap misses. The
features of a response ``r`` to an item with wording ``q`` and reference answer ``a`` (``e(x)`` = the
L2-normalised sentence embedding):

* item-agnostic (learnt across items, so they transfer to items never seen in training):
  ``cos(e(r), e(a))``, ``cos(e(r), e(q))``, TF-IDF cosine and word overlap with the item text, and the
  interaction vectors ``e(r) * e(a)`` and ``|e(r) - e(a)|`` (in response mode, ``e(r)`` itself);
* item-specific (only for items with labelled training rows): per label, the largest and the mean top-3
  similarity of ``r`` to that item's training responses of the label (leave-one-out on training rows), and
  the log-probabilities of the ``tfidf`` baseline's model (n-grams, per-item n-grams, overlap), stacked:
  out-of-fold on the training rows, so the head learns how far to trust it. Stacking rather than
  appending the sparse n-grams lets each part keep its own regularisation (the n-grams want little, the
  dense features much more); and, stacked the same way, the log-probabilities of a per-item character
  n-gram model (one weight per item and character 2-5-gram, so misspelt and inflected forms of the words
  an item's graders rewarded still count), fitted only when items have many labelled rows
  (``ITEM_CHARS_MIN_ROWS``; with all ~30 rows per SciEntsBank item it lifted validation macro-F1, see
  benchmarks/scoring/probe_hybrid_seen.py).

Two heads are fitted: ``seen`` (all features) scores responses to items present in the training rows,
``unseen`` (item-agnostic features only) scores the rest, so a model trained on some questions does not
lean on features that are blank for new ones. Each head's regularisation is chosen by cross-validation
on the training rows: stratified folds for the seen head; folds of whole items (``GroupKFold``, when at
least 5 items have labelled rows and every fold keeps every label) for the unseen head, so its choice
is scored on items it did not see. With synthetic rows, a human response and its rewrites share a fold
and only human rows are scored. Validation rows are only used to report (and by ``auto`` to choose).

The package: ``spec.py`` (the kind's names and helpers), ``item_chars.py`` (the per-item character model),
``features.py`` (every feature block and the lexical models it stacks) and ``scorer.py`` (the heads, fit, save, load).

Saved without pickle: the lexical vocabularies (JSON), the coefficients and the training rows' embeddings
(``hybrid.npz``); the encoder is referenced by its registry name, or copied into ``encoder/`` when it is a
local folder, so the directory scores on any machine where synthgrade and that encoder are installed.
"""

from synthgrade.modeling import context_parts
from synthgrade.scorers.hybrid.features import HybridFeatures
from synthgrade.scorers.hybrid.item_chars import ItemCharModel
from synthgrade.scorers.hybrid.scorer import HybridScorer
from synthgrade.scorers.hybrid.spec import (
    KIND,
    default_hybrid_encoder,
    log_proba,
    logistic,
    parse_spec,
    rows_by_key,
    split_encoder,
)

__all__ = [
    "KIND",
    "HybridFeatures",
    "HybridScorer",
    "ItemCharModel",
    "context_parts",
    "default_hybrid_encoder",
    "log_proba",
    "logistic",
    "parse_spec",
    "rows_by_key",
    "split_encoder",
]
