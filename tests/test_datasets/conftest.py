"""Fixtures shared by the data tests."""

import pytest

from cxr_mm.core.demo_data import make_demo_data


@pytest.fixture(scope='session')
def small_demo_root(tmp_path_factory):
    """A small demo set (nih/ and vindr/), made once: fast, yet every format.

    tools/dataset_converters tests run the default-size one.
    """
    root = tmp_path_factory.mktemp('small_demo')
    make_demo_data(
        str(root),
        seed=0,
        nih_patients=20,
        nih_images=50,
        nih_size=64,
        vindr_images=24,
        vindr_size_range=(128, 160),
    )
    return root
