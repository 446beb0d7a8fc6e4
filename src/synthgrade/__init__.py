"""synthgrade: scorers for open responses from a small human-coded set, synthetic data and distillation."""

from synthgrade.errors import SynthgradeError

__version__ = "0.1.0"

__all__ = ["SynthgradeError", "__version__"]
