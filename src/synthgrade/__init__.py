"""synthgrade: scorers for open responses from a small human-coded set, synthetic data and distillation."""

import os

# synthgrade reports its own progress (rich); transformers' weight-load reports ("LOAD REPORT ... UNEXPECTED" for the
# unused position ids of every sentence encoder) and progress bars only bury it. Defaults: a user's own
# setting of either variable wins. Set before transformers is imported, which reads them once.
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TQDM_DISABLE", "1")  # third-party tqdm bars (model2vec's distillation, the GGUF reader)

from synthgrade.errors import SynthgradeError  # noqa: E402

__version__ = "0.1.0"

__all__ = ["SynthgradeError", "__version__"]
