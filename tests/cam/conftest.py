"""Fixtures for the CAM tests (helpers live in cam_testlib.py)."""
import pytest

from cam_testlib import build_small_detector, make_coco_set


@pytest.fixture(scope='module')
def detector():
    return build_small_detector(seed=0)


@pytest.fixture(scope='session')
def coco_set(tmp_path_factory):
    return make_coco_set(tmp_path_factory.mktemp('cam_coco'))
