"""Benchmark scripts grouped by question (see README.md); ``benchmarks.common`` is the code they share."""
