"""Shared pytest fixtures; plain helpers live in cxr_testing.py."""

import pytest
from cxr_testing import REPO_ROOT


@pytest.fixture(scope='session')
def repo_root() -> str:
    return REPO_ROOT
