"""Step 1: label-conditional synthetic responses from an LLM, cached, resumable and cleaned."""

# Importing the Batch API backend also registers it as "openai-batch" in generate.backends.factory.BACKENDS.
from synthgrade.generate.batch import OpenAIBatchBackend
from synthgrade.generate.config import GenerationConfig, RetryPolicy, default_cache_dir
from synthgrade.generate.core import GenerationResult, generate_synthetic, summary_path, write_synthetic
from synthgrade.generate.parsing import parse_responses

__all__ = [
    "GenerationConfig",
    "GenerationResult",
    "OpenAIBatchBackend",
    "RetryPolicy",
    "default_cache_dir",
    "generate_synthetic",
    "parse_responses",
    "summary_path",
    "write_synthetic",
]
