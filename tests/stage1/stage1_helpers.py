"""Helpers shared by the stage-1 tests."""
import os.path as osp

import numpy as np


def make_nih_demo(root: str) -> str:
    """Write an NIH ChestX-ray14-format demo set (PNGs, Data_Entry_2017.csv, lists)."""
    from cxr_mm.datasets.demo import make_nih
    make_nih(root, np.random.default_rng(0))
    assert osp.isfile(osp.join(root, 'Data_Entry_2017.csv'))
    return root
