"""Fixtures for the CAM tests (helpers live in cxr_testing.py)."""

import pytest
from cxr_testing import build_small_detector, make_coco_set


@pytest.fixture(scope='module')
def detector():
    return build_small_detector(seed=0)


@pytest.fixture(scope='session')
def coco_set(tmp_path_factory):
    return make_coco_set(tmp_path_factory.mktemp('cam_coco'))
