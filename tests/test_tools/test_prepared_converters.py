"""Prepared-data converters: options recorded and checked, kill drill (issue 11 item 5)."""

import json
import os
import os.path as osp
import subprocess
import sys
import time

import cv2
import numpy as np
import pydicom
import pytest
from cxr_testing import REPO_ROOT, run_tool
from pydicom.data import get_testdata_file

from cxr_mm.core.prepared import claim_output_dir

TOOL = 'tools/dataset_converters/dicom_to_png.py'


def _children(pid):
    """Pids of the live child processes of ``pid`` (Linux /proc)."""
    out = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    ppid = int(f.read().rsplit(')', 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                out.append(int(entry))
    return out


def _alive(pid):
    """Running (not gone, not a zombie waiting to be reaped)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def _pngs(out):
    return sorted(f for f in os.listdir(out) if f.endswith('.png'))


def test_claim_output_dir_names_the_option(tmp_path):
    out = str(tmp_path / 'o')
    target = osp.join(out, 'a.png')
    assert claim_output_dir(out, dict(long_side=1024, bits=16), [target]) == 0
    cv2.imwrite(target, np.zeros((4, 4), np.uint8))
    # Same options: a resume, nothing removed.
    assert claim_output_dir(out, dict(long_side=1024, bits=16), [target]) == 0
    with pytest.raises(ValueError, match=r'long_side: 1024 there, 512 now'):
        claim_output_dir(out, dict(long_side=512, bits=16), [target])
    assert osp.exists(target)
    assert claim_output_dir(out, dict(long_side=512, bits=16), [target], overwrite=True) == 1
    assert not osp.exists(target)
    with open(osp.join(out, 'conversion.json')) as f:
        assert json.load(f) == dict(long_side=512, bits=16)
    # Outputs with no record at all are not adopted either.
    bare = str(tmp_path / 'bare')
    os.makedirs(bare)
    cv2.imwrite(osp.join(bare, 'a.png'), np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match='without a conversion.json'):
        claim_output_dir(bare, dict(bits=8), [osp.join(bare, 'a.png')])


@pytest.fixture(scope='module')
def j2k_dir(tmp_path_factory):
    """Eight real chest CRs (RG1, JPEG 2000, 1955 px): ~0.3 s each to convert."""
    root = tmp_path_factory.mktemp('rg1')
    src = get_testdata_file('RG1_J2KR.dcm', download=False)
    data = open(src, 'rb').read()
    for i in range(8):
        (root / f'img{i}.dcm').write_bytes(data)
    return str(root)


def test_rerun_with_other_options_is_refused(j2k_dir, tmp_path):
    out = str(tmp_path / 'png')
    sub = str(tmp_path / 'two')
    os.makedirs(sub)
    for name in sorted(os.listdir(j2k_dir))[:2]:
        os.link(osp.join(j2k_dir, name), osp.join(sub, name))
    run_tool([TOOL, sub, out, '--long-side', '128', '--workers', '0'])
    proc = run_tool([TOOL, sub, out, '--long-side', '64', '--workers', '0'], check=False)
    assert proc.returncode == 2 and 'long_side: 128 there, 64 now' in proc.stderr
    assert {cv2.imread(osp.join(out, f), -1).shape for f in _pngs(out)} == {(128, 121)}
    proc = run_tool([TOOL, sub, out, '--long-side', '64', '--workers', '0', '--overwrite'])
    assert 'deleted 2 PNGs' in proc.stdout and '2 converted' in proc.stdout
    assert {cv2.imread(osp.join(out, f), -1).shape for f in _pngs(out)} == {(64, 60)}


def test_kill_drill_sigkill_then_resume(j2k_dir, tmp_path):
    """SIGKILL mid-run, restart: every PNG complete and valid, finished ones not redone."""
    out = str(tmp_path / 'png')
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS='1')
    cmd = [sys.executable, TOOL, j2k_dir, out, '--long-side', '512', '--workers', '2']
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    workers = []
    try:
        deadline = time.time() + 120
        while time.time() < deadline and (not osp.isdir(out) or len(_pngs(out)) < 2):
            time.sleep(0.02)
        workers = _children(proc.pid)
    finally:
        proc.kill()  # SIGKILL to the converter only, as an OOM killer would
        proc.wait()
    assert len(workers) == 2
    deadline = time.time() + 30
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.05)
    assert not [w for w in workers if _alive(w)], 'orphaned workers'
    done = _pngs(out)
    assert 2 <= len(done) < 8, f'not killed mid-run: {len(done)} of 8 done'
    stamps = {f: os.stat(osp.join(out, f)).st_mtime_ns for f in done}
    assert not osp.exists(osp.join(out, 'image_meta.csv'))  # written at the end only

    proc = run_tool([TOOL, j2k_dir, out, '--long-side', '512', '--workers', '2'])
    assert f'{8 - len(done)} converted, {len(done)} already done' in proc.stdout
    for f, stamp in stamps.items():
        assert os.stat(osp.join(out, f)).st_mtime_ns == stamp  # not redone
    assert not [f for f in os.listdir(out) if '.tmp-' in f]
    ref = None
    for f in _pngs(out):
        img = cv2.imread(osp.join(out, f), cv2.IMREAD_UNCHANGED)
        assert img is not None and img.dtype == np.uint16 and img.shape == (512, 482)
        ref = img if ref is None else ref
        np.testing.assert_array_equal(img, ref)  # identical sources, identical PNGs
    with open(osp.join(out, 'image_meta.csv')) as f:
        rows = f.read().splitlines()
    ds = pydicom.dcmread(osp.join(j2k_dir, 'img0.dcm'), stop_before_pixels=True)
    assert len(rows) == 9 and all(f',{ds.Columns},{ds.Rows},' in r for r in rows[1:])


def test_nih_prepare_parallel_resumable_and_checked(tmp_path):
    from cxr_testing import load_tool, make_nih

    nih_prepare = load_tool('tools/dataset_converters/nih_prepare.py')
    root = tmp_path / 'nih'
    truth = make_nih(root)
    n = len(truth['tv']) + len(truth['test'])
    argv = [str(root), '--resize', '16', '--workers', '2', '--fractions', '1.0']
    assert nih_prepare.main(argv) == 0
    out = root / 'images_16'  # --out-dir defaults to the data root
    pngs = sorted(out.glob('*.png'))
    assert len(pngs) == n
    assert json.loads((out / 'conversion.json').read_text())['long_side'] == 16
    stamps = {p: p.stat().st_mtime_ns for p in pngs}
    pngs[0].unlink()
    (out / (pngs[1].name + '.tmp-99')).write_bytes(b'half a png')  # a killed run's leftover
    assert nih_prepare.main(argv) == 0
    assert sorted(out.glob('*.png')) == pngs
    assert not list(out.glob('*.tmp-*'))
    for p in pngs[1:]:
        assert p.stat().st_mtime_ns == stamps[p]
    # Same folder, other source: refused, naming the option.
    other = tmp_path / 'other'
    other.mkdir()
    for f in root.iterdir():
        if f.is_file():
            (other / f.name).write_bytes(f.read_bytes())
    os.symlink(root / 'images', other / 'images')
    bad = [str(other), '--out-dir', str(root), '--resize', '16', '--workers', '0']
    assert nih_prepare.main(bad + ['--fractions', '1.0']) == 2
    assert nih_prepare.main(bad + ['--fractions', '1.0', '--overwrite']) == 0
    assert json.loads((out / 'conversion.json').read_text())['source'] == str(other)
