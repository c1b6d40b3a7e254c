"""mmdet's and mmpretrain's own tools (through ``mim run``) on our VinDr config, our
training log and our tools/test.py output (configs/faster_rcnn_cxr/README.md, "mmdet's
own tools"). A 2-epoch run of the small detector on 5 demo DICOMs feeds them."""

import os.path as osp
import pickle
import sys

import numpy as np
import pytest
from cxr_testing import load_tool, run_tool, small_vindr_setup

MIM = osp.join(osp.dirname(sys.executable), 'mim')


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    from mmengine.config import Config
    from mmengine.runner import Runner

    root = tmp_path_factory.mktemp('mmdet_tools')
    cfg_path, _, data_root = small_vindr_setup(root, num_images=5)
    cfg = Config.fromfile(cfg_path)
    cfg.train_cfg.max_epochs = 2
    cfg.work_dir = str(root / 'train')
    # a visualizer of its own: one named 'visualizer' left by an earlier test in this
    # process would be reused, and its backends would write this run's log elsewhere
    cfg.visualizer.name = f'visualizer_{root.name}'
    runner = Runner.from_cfg(cfg)
    runner.train()
    ckpt = str(root / 'train' / 'epoch_2.pth')
    log_json = osp.join(runner.log_dir, 'vis_data', osp.basename(runner.log_dir) + '.json')
    pkl = str(root / 'results.pkl')
    argv = sys.argv
    sys.argv = ['test.py', cfg_path, ckpt, '--out', pkl, '--work-dir', str(root / 'test')]
    try:
        load_tool('tools/test.py').main()
    finally:
        sys.argv = argv
    # A full-size PNG copy, for the tools that cannot take DICOM (see the README).
    conv = load_tool('tools/dataset_converters/dicom_to_png.py')
    assert (
        conv.main(
            [osp.join(data_root, 'train'), osp.join(data_root, 'train_png'), '--workers', '0']
        )
        == 0
    )
    return dict(root=root, cfg=cfg_path, ckpt=ckpt, log=log_json, pkl=pkl)


def _mim(*args, **kw):
    return run_tool([MIM, *map(str, args)], env={'MPLBACKEND': 'Agg'}, **kw)


def _png_config(run) -> str:
    """The README's derived config: PNG copy, mmcv's loader (analyze_results.py
    and browse_dataset.py need mmcv's LoadImageFromFile and image suffixes)."""
    path = run['root'] / 'png_copy.py'
    path.write_text(
        f'_base_ = {run["cfg"]!r}\n'
        "png = dict(data_prefix=dict(img='train_png/'), img_suffix='.png')\n"
        'train_dataloader = dict(dataset=dict(png, pipeline=[\n'
        "    dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),\n"
        "    dict(type='PackDetInputs')]))\n"
        'test_dataloader = dict(dataset=png)\n'
    )
    return str(path)


def test_analyze_logs_mmpretrain_plots_loss_and_map(run):
    out = run['root'] / 'curve.png'
    _mim('run', 'mmpretrain', 'analyze_logs', 'plot_curve', run['log'], '--keys', 'loss',
         'vindr/mAP50', '--out', out)  # fmt: skip
    assert out.stat().st_size > 5000


def test_analyze_logs_mmdet(run):
    import seaborn  # noqa: F401  (pinned: mmdet's analyze_logs.py imports it; never skipped)

    out = run['root'] / 'curve_mmdet.png'
    _mim('run', 'mmdet', 'analyze_logs', 'plot_curve', run['log'], '--keys', 'loss', 'mAP50',
         '--out', out)  # fmt: skip
    assert out.stat().st_size > 5000


def test_confusion_matrix_on_test_py_output(run):
    out = run['root'] / 'cm'
    _mim('run', 'mmdet', 'confusion_matrix', run['cfg'], run['pkl'], out, '--score-thr', 0)
    assert (out / 'confusion_matrix.png').stat().st_size > 5000


def test_analyze_results_on_png_copy(run):
    out = run['root'] / 'analyze'
    _mim('run', 'mmdet', 'analyze_results', _png_config(run), run['pkl'], out, '--topk', 2)
    for kind in ('good', 'bad'):
        assert len(list((out / kind).glob('*.png'))) == 2


def test_browse_dataset_of_mmdet(run):
    out = run['root'] / 'browse'
    _mim('run', 'mmdet', 'browse_dataset', _png_config(run), '--output-dir', out, '--not-show')
    assert len(list(out.glob('*.png'))) == 5


def test_get_flops(run):
    from cxr_testing import build_small_detector

    proc = _mim('run', 'mmdet', 'get_flops', run['cfg'], '--num-images', 2)
    params = sum(p.numel() for p in build_small_detector().parameters()) / 1e6
    assert f'Params: {params:.3f}M' in proc.stdout
    assert 'Flops:' in proc.stdout


def test_mim_test_equals_tools_test(run):
    """``mim test mmdet`` (mmdet's tools/test.py) on our config and checkpoint gives
    the predictions of our tools/test.py, box for box."""
    pkl = run['root'] / 'mim_results.pkl'
    _mim('test', 'mmdet', run['cfg'], '--checkpoint', run['ckpt'], '--work-dir',
         run['root'] / 'mim_test', '--out', pkl)  # fmt: skip
    ours = pickle.load(open(run['pkl'], 'rb'))
    theirs = pickle.load(open(pkl, 'rb'))
    assert len(ours) == len(theirs) == 5
    for a, b in zip(ours, theirs):
        assert a['img_path'] == b['img_path']
        for key in ('bboxes', 'scores', 'labels'):
            np.testing.assert_allclose(a['pred_instances'][key], b['pred_instances'][key])
