"""Human-coded data: one response-table schema, readers/writers, validation and splitting."""

from synthgrade.data.integrity import (
    GENERATION_COLUMNS,
    SYNTHETIC,
    check_disjoint,
    check_human_only,
    check_human_test,
    check_human_validation,
    frame_hash,
    generated_rows,
    is_synthetic,
    is_synthetic_value,
    label_indices,
)
from synthgrade.data.readers import Problem, RawTable, read_raw, write_table
from synthgrade.data.schema import (
    CANONICAL_COLUMNS,
    ColumnMap,
    RowProblem,
    has_items,
    label_order,
    parse_label_list,
    public_columns,
    refuse_rows,
)
from synthgrade.data.split import SPLITS, split_responses, write_splits
from synthgrade.data.validate import (
    DEFAULT_MAX_CHARS,
    ValidationReport,
    load_responses,
    validate_file,
)

__all__ = [
    "RowProblem",
    "refuse_rows",
    "CANONICAL_COLUMNS",
    "ColumnMap",
    "DEFAULT_MAX_CHARS",
    "GENERATION_COLUMNS",
    "Problem",
    "RawTable",
    "SPLITS",
    "SYNTHETIC",
    "ValidationReport",
    "check_disjoint",
    "check_human_only",
    "check_human_test",
    "check_human_validation",
    "frame_hash",
    "generated_rows",
    "has_items",
    "is_synthetic",
    "is_synthetic_value",
    "label_indices",
    "label_order",
    "load_responses",
    "parse_label_list",
    "public_columns",
    "read_raw",
    "split_responses",
    "validate_file",
    "write_splits",
    "write_table",
]
