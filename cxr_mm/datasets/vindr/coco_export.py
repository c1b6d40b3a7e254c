# Copyright (c) cxr-mm contributors. All rights reserved.
"""Export a loaded VinDr dataset as COCO JSON for mmdet's own ``CocoDataset``."""

import json
import os
import os.path as osp
from typing import Optional


def to_coco(dataset, out_file: Optional[str] = None) -> dict:
    """The loaded images and fused boxes of ``dataset`` as a COCO dict.

    ``file_name`` is relative to ``data_prefix['img']`` and category ids are
    ``label + 1``, so mmdet's ``CocoDataset`` with
    ``metainfo=dict(classes=VINDR_CLASSES)`` and the same ``data_prefix``
    loads the same images and boxes. Written atomically to ``out_file`` when
    given.
    """
    img_dir = dataset.data_prefix.get('img', '')
    classes = dataset.metainfo['classes']
    images, annotations = [], []
    for i in range(len(dataset)):
        info = dataset.get_data_info(i)
        images.append(
            dict(
                id=int(info['img_id']),
                file_name=osp.relpath(info['img_path'], img_dir),
                width=int(info['width']),
                height=int(info['height']),
                vindr_image_id=info['image_id'],
            )
        )
        for inst in info['instances']:
            x1, y1, x2, y2 = inst['bbox']
            annotations.append(
                dict(
                    id=len(annotations) + 1,
                    image_id=int(info['img_id']),
                    category_id=int(inst['bbox_label']) + 1,
                    bbox=[x1, y1, x2 - x1, y2 - y1],
                    area=(x2 - x1) * (y2 - y1),
                    # Ignore regions load back as mmdet ignore_flag=1.
                    iscrowd=int(inst.get('ignore_flag', 0)),
                )
            )
    coco = dict(
        info=dict(
            description='VinDr-CXR exported by cxr-mm',
            ann_file=osp.basename(dataset.ann_file),
            split=dataset.split,
            fusion=dataset.fusion,
            fusion_iou_thr=dataset.fusion_iou_thr,
            test_set=dataset.metainfo.get('test_set'),
        ),
        images=images,
        annotations=annotations,
        categories=[dict(id=i + 1, name=c, supercategory='lesion') for i, c in enumerate(classes)],
    )
    if out_file is not None:
        os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
        tmp = f'{out_file}.tmp{os.getpid()}'
        with open(tmp, 'w') as f:
            json.dump(coco, f)
        os.replace(tmp, out_file)
    return coco
