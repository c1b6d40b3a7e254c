# Copyright (c) cxr-mm contributors. All rights reserved.
"""Reading the official annotation CSVs so every later error can name its row."""
from typing import Sequence

import pandas as pd

ON_INVALID_ROW = ('error', 'drop')


def check_on_invalid_row(on_invalid_row: str) -> None:
    if on_invalid_row not in ON_INVALID_ROW:
        raise ValueError(f'on_invalid_row must be one of {ON_INVALID_ROW}, '
                         f'got {on_invalid_row!r}')


def read_annotation_csv(ann_file: str, required: Sequence[str],
                        expected: str) -> pd.DataFrame:
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
        raise ValueError(f'{ann_file}: missing column(s) {missing}; found '
                         f'{list(df.columns)}. Expected {expected}.')
    df['line'] = range(2, len(df) + 2)  # the header is line 1
    return df
