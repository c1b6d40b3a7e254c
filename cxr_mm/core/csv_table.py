# Copyright (c) cxr-mm contributors. All rights reserved.
"""Reading the official annotation CSVs so every later error can name its row."""

from typing import Sequence, Tuple

import pandas as pd

ON_INVALID_ROW = ('error', 'drop')


def check_on_invalid_row(on_invalid_row: str) -> None:
    if on_invalid_row not in ON_INVALID_ROW:
        raise ValueError(f'on_invalid_row must be one of {ON_INVALID_ROW}, got {on_invalid_row!r}')


def read_annotation_csv(ann_file: str, required: Sequence[str], expected: str) -> pd.DataFrame:
    """All cells as stripped-header strings, plus ``line`` (1-based file line).

    Args:
        ann_file: The CSV file.
        required: Columns that must be present.
        expected: What the file should look like, for the error message.

    Raises:
        ValueError: Unreadable file or missing columns (names the file).
    """
    try:
        df = pd.read_csv(ann_file, dtype=str, keep_default_na=False)
    except Exception as e:
        raise ValueError(f'{ann_file}: cannot be read as CSV: {e}') from e
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(
            f'{ann_file}: missing column(s) {missing}; found '
            f'{list(df.columns)}. Expected {expected}.'
        )
    df['line'] = range(2, len(df) + 2)  # the header is line 1
    return df


def drop_duplicate_rows(df: pd.DataFrame) -> Tuple[pd.DataFrame, int]:
    """Rows equal in every cell to an earlier one (line numbers aside)."""
    dup = df.duplicated(subset=[c for c in df.columns if c != 'line'], keep='first')
    return df[~dup], int(dup.sum())


def raise_invalid_rows(ann_file: str, invalid: Sequence[Tuple[int, str]]) -> None:
    """One error for all invalid rows: the first ten by file line, and why."""
    shown = '\n'.join(f'  line {ln}: {why}' for ln, why in invalid[:10])
    more = '' if len(invalid) <= 10 else f'\n  ... and {len(invalid) - 10} more'
    raise ValueError(
        f'{ann_file}: {len(invalid)} invalid row(s) (set '
        f"on_invalid_row='drop' to drop and count them):\n{shown}{more}"
    )
