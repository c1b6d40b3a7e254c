"""The README's end-to-end demo, shortened (--quick): every real tool runs once."""

import json
import os.path as osp

import pytest
from cxr_testing import run_tool


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_run_demo_quick(tmp_path):
    work_dir, data_root = tmp_path / 'demo', tmp_path / 'data'
    proc = run_tool(
        [
            'tools/run_demo.py',
            '--quick',
            '--work-dir',
            str(work_dir),
            '--data-root',
            str(data_root),
        ],
        timeout=900,
    )
    out = proc.stdout
    for step in (
        '[data]',
        '[stage1]',
        '[extract]',
        '[init-detector]',
        '[stage2]',
        '[eval_untrained_val]',
        '[eval_trained_test]',
    ):
        assert step in out, step
    assert 'VinDr-CXR detection' in out and 'No finding (Kaggle)' in out  # the mAP table
    assert 'validation mAP50: untrained detector' in out

    summary = json.loads((work_dir / 'summary.json').read_text())
    assert summary['quick'] is True
    assert len(summary['val_mAP50_per_epoch']) == 1
    for key in ('mAP50', 'mAP40_kaggle', 'coco_mAP', 'AP40_no_finding'):
        assert 0.0 <= summary['test_metrics'][key] <= 1.0
    for name, path in summary['outputs'].items():
        assert osp.exists(path), (name, path)
    outputs = summary['outputs']
    # stage 2 started from the extracted stage-1 backbone, loaded in full
    stage2_logs = (work_dir / 'logs' / 'stage2.log').read_text()
    assert (
        f'StrictPretrained: loaded 318/318 tensors of ResNet from '
        f'{outputs["stage-1 backbone (ResNet-50)"]}' in stage2_logs
    )
    # the "before training" detector came from the save_init converter, strictly loadable
    init_log = (work_dir / 'logs' / 'init-detector.log').read_text()
    assert 'the untrained FasterRCNN as training starts it' in init_log
    assert 'tools/model_converters/save_init.py' in out
    test_dir = outputs['eval_trained_test: mAP table, metrics.json, PR curves, AP bars']
    for name in ('pr_curves.png', 'per_class_ap.png', 'table.txt', 'metrics.json'):
        assert osp.isfile(osp.join(test_dir, name)), name
    assert list((work_dir / 'cam').glob('*.png')), out[-3000:]
    assert outputs['Ablation-CAM overlays'] == str(work_dir / 'cam')
    # the demo config's CAMHook explained validation images after the one epoch
    assert list((work_dir / 'stage2' / 'cam' / 'epoch_1').glob('*.png'))
    assert 'CAMHook epoch_1 localisation vs GT' in stage2_logs
