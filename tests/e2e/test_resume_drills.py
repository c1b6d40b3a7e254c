"""Fault drills: a training run killed with SIGKILL mid-epoch and resumed with --resume.

The run is started with tools/train.py as a subprocess and killed for real once a
checkpoint is on disk and the log shows a later iteration. Then the same command with
``--resume`` must continue from the saved iteration with the schedule intact and, in
one process with deterministic CPU settings, end with the uninterrupted run's weights,
bit for bit (torch.equal).
"""

import os
import os.path as osp
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from cxr_testing import (
    REPO_ROOT,
    STAGE1_DEMO_CFG,
    read_scalars,
    small_model_cfg,
)

from cxr_mm.checkpoint import safe_torch_load

STAGE2_DEMO_CFG = osp.join(
    REPO_ROOT, 'configs/faster_rcnn_cxr/faster-rcnn_r50-bt-cxr_fpn_1xb2-cos-3e_vindr-demo-256.py'
)
#: One process, one thread, augmentation in the main process: what bitwise needs.
DETERMINISTIC = ['randomness.seed=0', 'randomness.deterministic=True']


def _start(args, log_path: str) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join([REPO_ROOT] + [env.get('PYTHONPATH', '')])
    log = open(log_path, 'w')
    proc = subprocess.Popen(
        [sys.executable, 'tools/train.py', *args],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()  # the child holds its own descriptor
    return proc


def _finish(proc: subprocess.Popen, log_path: str, timeout: float = 300) -> str:
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    with open(log_path) as f:
        log = f.read()
    assert proc.returncode == 0, log[-6000:]
    return log


def _kill_mid_epoch(proc, log_path: str, work_dir: str, ckpt_iter: int, timeout: float = 300):
    """SIGKILL once iter_<ckpt_iter>.pth is recorded and a later iteration is logged."""
    later = ckpt_iter + 1
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            with open(log_path) as f:
                raise AssertionError(f'run ended before the kill:\n{f.read()[-6000:]}')
        with open(log_path) as f:
            log = f.read()
        saved = osp.isfile(osp.join(work_dir, 'last_checkpoint'))
        if saved and re.search(rf'\(train\)\s+(\[\d+\])?\[\s*{later}/\d+\]', log):
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=60)
            assert proc.returncode == -signal.SIGKILL
            return log
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f'no iteration {later} logged within {timeout} s')


def _assert_same_training_state(a_path: str, b_path: str) -> None:
    a, b = safe_torch_load(a_path), safe_torch_load(b_path)
    assert (a['meta']['epoch'], a['meta']['iter']) == (b['meta']['epoch'], b['meta']['iter'])
    assert a['state_dict'].keys() == b['state_dict'].keys()
    differ = [k for k in a['state_dict'] if not torch.equal(a['state_dict'][k], b['state_dict'][k])]
    assert not differ, f'{len(differ)} tensors differ, e.g. {differ[:5]}'
    sa, sb = a['optimizer']['state'], b['optimizer']['state']
    assert sa.keys() == sb.keys()
    for idx in sa:
        for name, value in sa[idx].items():
            assert torch.equal(value, sb[idx][name]), (idx, name)
    assert a['param_schedulers'] == b['param_schedulers']


def _train_rows(work_dir: str):
    """iteration -> (lr, loss) of the newest run in work_dir."""
    return {r['iter']: (r['lr'], r['loss']) for r in read_scalars(work_dir) if 'loss' in r}


@pytest.fixture(scope='module')
def demo_root(tmp_path_factory) -> str:
    from cxr_mm.core.demo_data import make_demo_data

    root = str(tmp_path_factory.mktemp('drill_data'))
    # NIH: 48 images of 64 px. VinDr: 16 images -> 12 training images with lesions,
    # 6 iterations of 2 per epoch.
    make_demo_data(
        root, 0, nih_patients=8, nih_images=48, nih_size=64, vindr_images=16,
        vindr_size_range=(160, 192),
    )  # fmt: skip
    return root


def _small_stage2_config(tmp_path, vindr_root: str) -> str:
    """The demo detector recipe with a quarter-width ResNet-18 at 128 px, 2 epochs,
    an iteration checkpoint every 2 iterations."""
    from mmengine.config import Config

    cfg = Config.fromfile(STAGE2_DEMO_CFG)
    cfg.model = small_model_cfg().model  # backbone init_cfg=None: no stage-1 file needed
    cfg.model.roi_head.bbox_head.num_classes = 14
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = vindr_root
        for step in cfg[loader].dataset.pipeline:
            if step.type == 'Resize':
                step.scale = (128, 128)
    cfg.custom_hooks = []  # the CAM hook: seconds per epoch, no training state
    cfg.train_cfg.update(max_epochs=2, val_interval=2)  # validation once, after the last save
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.update(by_epoch=False, interval=2, max_keep_ckpts=-1)
    path = str(tmp_path / 'drill_stage2.py')
    cfg.dump(path)
    return path


def _reference_and_killed_run(config, tmp_path):
    """Start an uninterrupted run and a victim side by side; SIGKILL the victim once
    ``iter_4.pth`` is recorded and a later iteration is logged. Returns the two work
    dirs, the shared train.py arguments, the reference process and the victim's log."""
    full, killed = str(tmp_path / 'full'), str(tmp_path / 'killed')
    args = ['--cfg-options', *DETERMINISTIC]
    full_proc = _start([config, '--work-dir', full, *args], str(tmp_path / 'full.log'))
    kill_proc = _start([config, '--work-dir', killed, *args], str(tmp_path / 'killed.log'))
    log = _kill_mid_epoch(kill_proc, str(tmp_path / 'killed.log'), killed, ckpt_iter=4)
    with open(osp.join(killed, 'last_checkpoint')) as f:
        assert osp.basename(f.read().strip()) == 'iter_4.pth'
    return full, killed, args, full_proc, log


@pytest.mark.slow
def test_stage2_killed_mid_epoch_resumes_to_the_same_weights(tmp_path, demo_root):
    config = _small_stage2_config(tmp_path, osp.join(demo_root, 'vindr') + '/')
    full, killed, args, full_proc, log = _reference_and_killed_run(config, tmp_path)
    assert 'Epoch(train) [1][5/6]' in log and 'Epoch(train) [1][6/6]' not in log

    resumed = _finish(
        _start([config, '--work-dir', killed, '--resume', *args], str(tmp_path / 'resumed.log')),
        str(tmp_path / 'resumed.log'),
    )
    _finish(full_proc, str(tmp_path / 'full.log'))
    assert 'resumed epoch: 0, iter: 4' in resumed
    # The rest of epoch 1 (batches 5 and 6 of 6), then epoch 2; nothing trained twice.
    logged = re.findall(r'Epoch\(train\)\s+\[(\d+)\]\[\s*(\d+)/6\]', resumed)
    assert logged == [('1', '5'), ('1', '6')] + [('2', str(i)) for i in range(1, 7)]

    # Same learning rate and loss at every resumed iteration: same schedule, batches
    # and random draws (RoI sampling, flips, jitter) as the uninterrupted run.
    ref, res = _train_rows(full), _train_rows(killed)
    assert sorted(res) == list(range(5, 13))
    assert {i: ref[i] for i in res} == res
    _assert_same_training_state(osp.join(full, 'iter_12.pth'), osp.join(killed, 'iter_12.pth'))


def _small_stage1_config(tmp_path, nih_root: str) -> str:
    """The stage-1 demo recipe (12 iterations, warm-up + cosine) with a ResNet-18,
    48 images (6 iterations per pass) and a checkpoint every 2 iterations."""
    from mmengine.config import Config

    cfg = Config.fromfile(osp.join(REPO_ROOT, STAGE1_DEMO_CFG))
    cfg.model.backbone.depth = 18
    cfg.model.neck.in_channels = 512
    cfg.train_dataloader.dataset.update(data_root=nih_root, indices=48)
    cfg.default_hooks.checkpoint.update(interval=2, max_keep_ckpts=-1)
    path = str(tmp_path / 'drill_stage1.py')
    cfg.dump(path)
    return path


@pytest.mark.slow
def test_stage1_killed_mid_run_continues_its_schedule(tmp_path, demo_root):
    config = _small_stage1_config(tmp_path, osp.join(demo_root, 'nih') + '/')
    full, killed, args, full_proc, _ = _reference_and_killed_run(config, tmp_path)

    resumed = _finish(
        _start([config, '--work-dir', killed, '--resume', *args], str(tmp_path / 'resumed.log')),
        str(tmp_path / 'resumed.log'),
    )
    _finish(full_proc, str(tmp_path / 'full.log'))
    assert 'resumed epoch: 0, iter: 4' in resumed
    ref, res = _train_rows(full), _train_rows(killed)
    # The counter continues at 5 and the warm-up + cosine schedule is where the
    # uninterrupted run had it at every iteration, down to the last one.
    assert sorted(res) == list(range(5, 13))
    assert [res[i][0] for i in res] == [ref[i][0] for i in res]
    # And the views drawn after the resume are the same ones: same losses, same weights.
    assert [res[i][1] for i in res] == [ref[i][1] for i in res]
    _assert_same_training_state(osp.join(full, 'iter_12.pth'), osp.join(killed, 'iter_12.pth'))
