"""LabelFractionDataset on demo VinDr data, built from the real ablation config."""

import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(
    REPO, 'configs/faster_rcnn_cxr/faster-rcnn_r50-bt-cxr_fpn_8xb2-cos-50e_vindr-1024-{}pct.py'
)


@pytest.fixture(scope='module')
def vindr_root(tmp_path_factory):
    import numpy as np

    from cxr_mm.core.demo_data import make_vindr

    root = tmp_path_factory.mktemp('demo') / 'vindr'
    make_vindr(str(root), np.random.default_rng(0), num_images=30, size_range=(64, 96))
    return str(root) + '/'


def build_train(pct, root, **override):
    from mmdet.registry import DATASETS

    import cxr_mm.register  # noqa: F401

    init_default_scope('mmdet')
    cfg = Config.fromfile(CFG.format(pct))
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.dataset.data_root = root
    ds_cfg.dataset.pipeline = []
    ds_cfg.update(override)
    return DATASETS.build(ds_cfg)


def test_fraction_is_a_fixed_stratified_subset(vindr_root):
    half = build_train(50, vindr_root)
    full = half.dataset
    assert len(half) == pytest.approx(len(full) / 2, abs=1)
    ids = [half.get_data_info(i)['img_id'] for i in range(len(half))]
    assert set(ids) <= {full.get_data_info(i)['img_id'] for i in range(len(full))}
    assert len(set(ids)) == len(ids)
    # deterministic, and the same whatever the training seed: rebuild gives the same images
    again = build_train(50, vindr_root)
    assert ids == [again.get_data_info(i)['img_id'] for i in range(len(again))]
    # another subset seed gives other images
    other = build_train(50, vindr_root, seed=1)
    assert ids != [other.get_data_info(i)['img_id'] for i in range(len(other))]
    # stratified: negatives and each rarest-class stratum keep about half their images
    from cxr_mm.core.splits import assign_strata

    def labels(ds):
        return {
            ds.get_data_info(i)['img_id']: {
                x['bbox_label'] for x in ds.get_data_info(i)['instances']
            }
            for i in range(len(ds))
        }

    strata = assign_strata(labels(full))
    for stratum in set(strata.values()):
        n_full = sum(1 for s in strata.values() if s == stratum)
        n_kept = sum(1 for i in ids if strata[i] == stratum)
        assert abs(n_kept - n_full / 2) <= 2, (stratum, n_kept, n_full)
    assert half[0]['img_id'] == half.get_data_info(0)['img_id']  # pipeline output
    assert half.metainfo['classes'] == full.metainfo['classes']


def test_ten_percent_keeps_at_least_one_image(vindr_root):
    tenth = build_train(10, vindr_root)
    assert 1 <= len(tenth) <= max(1, round(len(tenth.dataset) * 0.1) + 1)


def test_rejects_bad_fraction(vindr_root):
    with pytest.raises(ValueError, match='fraction'):
        build_train(10, vindr_root, fraction=0.0)
