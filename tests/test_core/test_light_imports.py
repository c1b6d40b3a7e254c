"""`import cxr_mm` and the framework-free modules load without mmdet/mmpretrain.

Converters and the demo-data generator run in worker processes (and on login
nodes without the OpenMMLab stack); they import these modules directly, so a
heavy import here would slow every worker or break those machines.
"""

import pkgutil
import subprocess
import sys

from cxr_testing import REPO_ROOT

import cxr_mm.core

HEAVY = ('mmdet', 'mmpretrain', 'mmcv', 'mmengine', 'torch')


def test_package_and_core_import_no_framework():
    core = sorted(f'cxr_mm.core.{m.name}' for m in pkgutil.iter_modules(cxr_mm.core.__path__))
    assert 'cxr_mm.core.dicom' in core and 'cxr_mm.core.classes' in core
    code = (
        'import importlib, sys\n'
        f'for name in {["cxr_mm", *core]!r}:\n'
        '    importlib.import_module(name)\n'
        f'print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n'
    )
    out = subprocess.run(
        [sys.executable, '-c', code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == '[]', out.stdout


def test_register_registers_components():
    code = (
        'import cxr_mm.register\n'
        'from mmdet.registry import DATASETS, METRICS, HOOKS\n'
        'from mmpretrain.registry import MODELS\n'
        "assert DATASETS.get('VinDrCXRDataset') and METRICS.get('VinDrMetric')\n"
        "assert HOOKS.get('CAMHook') and MODELS.get('BarlowTwinsCXR')\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, '-c', code], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert out.stdout.strip() == 'ok', out.stderr[-2000:]


def test_no_tool_loads_a_module_by_file_path():
    """Tools import the package like any user (no importlib file-path loading)."""
    import glob

    offenders = [
        p
        for p in glob.glob(f'{REPO_ROOT}/tools/**/*.py', recursive=True)
        + glob.glob(f'{REPO_ROOT}/bench/*.py')
        if 'spec_from_file_location' in open(p).read()
    ]
    assert offenders == []
