# Copyright (c) cxr-mm contributors. All rights reserved.
"""What the NIH and VinDr datasets share: root paths, missing files, summaries.

A mixin rather than a base class, because the two datasets derive from
different OpenMMLab bases (mmpretrain's ``MultiLabelDataset`` and mmdet's
``BaseDetDataset``).
"""

import logging
import os.path as osp
from typing import List, Optional, Sequence

from mmengine.logging import print_log

MISSING_FILES = ('skip', 'error')


def check_missing_files(missing_files: str) -> None:
    """Validate the ``missing_files`` option."""
    if missing_files not in MISSING_FILES:
        raise ValueError(f"missing_files must be 'skip' or 'error', got {missing_files!r}")


class CXRDatasetMixin:
    """Shared bookkeeping of the cxr-mm datasets.

    The class using it sets ``self.summary`` (a dict, empty until loaded),
    ``self.missing_files`` and implements :meth:`summary_lines`.
    """

    summary: dict
    missing_files: str

    def _root_path(self, path: Optional[str]) -> Optional[str]:
        """``path`` under ``data_root`` unless absolute (None stays None)."""
        if path is None or osp.isabs(path) or not self.data_root:
            return path
        return osp.join(self.data_root, path)

    def _report_missing(self, missing: Sequence[str], where: str) -> None:
        """Apply the missing-files policy to the image files ``where`` lists.

        ``'error'`` raises ``FileNotFoundError`` with the count and examples;
        ``'skip'`` logs a warning (the caller skips them and counts them in
        the summary). Nothing is said when no file is missing.
        """
        if not missing:
            return
        if self.missing_files == 'error':
            raise FileNotFoundError(
                f'{len(missing)} image(s) {where} are missing, e.g. {list(missing[:5])}'
            )
        print_log(
            f'{type(self).__name__}: {len(missing)} image file(s) {where} are missing '
            f'and skipped, e.g. {list(missing[:3])}',
            logger='current',
            level=logging.WARNING,
        )

    def summary_lines(self) -> List[str]:  # pragma: no cover - abstract
        raise NotImplementedError

    def format_summary(self) -> str:
        """Human-readable summary of what was loaded, dropped and why."""
        if not self.summary:
            return f'{type(self).__name__}: not loaded'
        return '\n'.join(self.summary_lines())
