"""The PNG twin configs' data on dicom_to_png output: the same boxes, scaled to the PNGs."""

import os.path as osp

import numpy as np
import pytest
from cxr_testing import REPO_ROOT, load_tool
from mmengine.config import Config

import cxr_mm.register  # noqa: F401
from cxr_mm.core.demo_data import make_vindr

PNG_CFG = 'configs/faster_rcnn_cxr/faster-rcnn_r50_fpn_8xb2-cos-50e_vindr-png-1024.py'
DICOM_CFG = 'configs/faster_rcnn_cxr/faster-rcnn_r50_fpn_8xb2-cos-50e_vindr-1024.py'


@pytest.fixture(scope='module')
def vindr_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('vindr'))
    make_vindr(root, np.random.default_rng(5), num_images=12, size_range=(160, 220))
    dicom_to_png = load_tool('tools/dataset_converters/dicom_to_png.py')
    out = osp.join(root, 'train_png_1024')
    # 64 px stands in for 1024 (small test images); the config's folder name is kept.
    assert (
        dicom_to_png.main([osp.join(root, 'train'), out, '--long-side', '64', '--workers', '0'])
        == 0
    )
    return root


def _dataset(cfg_file, root):
    from mmdet.registry import DATASETS

    cfg = Config.fromfile(osp.join(REPO_ROOT, cfg_file))
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.data_root = root
    ds_cfg.pipeline = []
    ds_cfg.split = None
    return DATASETS.build(ds_cfg.to_dict())


def test_png_twin_boxes_are_the_dicom_boxes_scaled(vindr_root):
    png, dcm = _dataset(PNG_CFG, vindr_root), _dataset(DICOM_CFG, vindr_root)
    assert len(png) == len(dcm) > 0
    infos = [dcm.get_data_info(i) for i in range(len(dcm))]
    by_id = {osp.basename(d['img_path']).split('.')[0]: d for d in infos}
    boxes = 0
    for info in (png.get_data_info(i) for i in range(len(png))):
        assert info['img_path'].endswith('.png') and 'train_png_1024' in info['img_path']
        ref = by_id[osp.basename(info['img_path'])[:-4]]
        sx = info['width'] / ref['width']
        sy = info['height'] / ref['height']
        assert max(info['width'], info['height']) == 64 and sx < 1
        assert len(info['instances']) == len(ref['instances'])
        for a, b in zip(info['instances'], ref['instances']):
            x1, y1, x2, y2 = b['bbox']
            np.testing.assert_allclose(a['bbox'], [x1 * sx, y1 * sy, x2 * sx, y2 * sy], rtol=1e-6)
            assert a['bbox_label'] == b['bbox_label']
            boxes += 1
    assert boxes > 0
