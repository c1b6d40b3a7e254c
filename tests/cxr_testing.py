"""The one helper module of the suite: repo paths, a subprocess runner for the
real tools, a small Faster R-CNN and tiny COCO set for the CAM tests, and the
NIH demo writer for the stage-1 tests.

Kept out of ``conftest.py`` because several conftest modules exist and
pytest registers each as ``conftest``; importing helpers from there picks
whichever was loaded last.
"""

import json
import os
import os.path as osp
import subprocess
import sys

import cv2
import numpy as np
import torch
from mmengine.config import Config

from cxr_mm.core.classes import NIH_CLASSES, VINDR_CLASSES

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: A tiny iteration-based config for runner plumbing tests (tests/test_tools/toy).
TOY_CONFIG = osp.join(REPO_ROOT, 'tests', 'test_tools', 'toy_config.py')


def load_tool(rel_path: str):
    """Import a script under tools/ (not a package) to call its ``main(argv)`` in-process."""
    import importlib.util

    path = osp.join(REPO_ROOT, rel_path)
    name = osp.splitext(osp.basename(path))[0] + '_tool'
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_tool(args, cwd=REPO_ROOT, env=None, timeout=600, check=True):
    """Run a repo tool with this interpreter; return CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env['PYTHONPATH'] = os.pathsep.join(
        [REPO_ROOT, osp.join(REPO_ROOT, 'tests', 'test_tools')]
        + ([full_env['PYTHONPATH']] if full_env.get('PYTHONPATH') else [])
    )
    full_env.setdefault('OMP_NUM_THREADS', '2')
    if env:
        full_env.update(env)
    cmd = [sys.executable, *args] if str(args[0]).endswith('.py') else list(args)
    proc = subprocess.run(
        cmd, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f'command failed ({proc.returncode}): {" ".join(map(str, cmd))}\n'
            f'--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}'
        )
    return proc


# ---- CAM tests: a small Faster R-CNN and a tiny COCO set ----------------------
BASE_MODEL = osp.join(REPO_ROOT, 'configs', '_base_', 'models', 'faster-rcnn_r50_fpn_cxr.py')


def small_model_cfg() -> Config:
    cfg = Config.fromfile(BASE_MODEL)
    m = cfg.model
    # ResNet-18 at a quarter width: channels 16/32/64/128.
    m.backbone.update(depth=18, base_channels=16, frozen_stages=-1)
    m.neck.update(in_channels=[16, 32, 64, 128], out_channels=32)
    m.rpn_head.update(in_channels=32, feat_channels=32)
    m.roi_head.bbox_roi_extractor.out_channels = 32
    m.roi_head.bbox_head.update(in_channels=32, fc_out_channels=64)
    m.train_cfg.rpn_proposal.update(nms_pre=300, max_per_img=100)
    m.train_cfg.rcnn.sampler.num = 64
    m.test_cfg.rpn.update(nms_pre=300, max_per_img=50)
    m.test_cfg.rcnn.update(score_thr=0.0, max_per_img=20)
    return cfg


def build_small_detector(seed: int = 0):
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope

    import cxr_mm.register  # noqa: F401

    init_default_scope('mmdet')
    torch.manual_seed(seed)
    model = MODELS.build(small_model_cfg().model)
    model.eval()
    return model


def synthetic_cxr(seed: int, size: int = 128):
    """Gray 'radiograph' (smooth background, bright lesions) and its boxes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    img = (
        60
        + 80 * np.exp(-((xx - 0.3) ** 2 + (yy - 0.5) ** 2) / 0.05)
        + 80 * np.exp(-((xx - 0.7) ** 2 + (yy - 0.5) ** 2) / 0.05)
    )
    img = img + rng.normal(0, 6, (size, size))
    boxes, labels = [], []
    for k in range(2):
        w, h = rng.integers(size // 8, size // 3, 2)
        x1 = int(rng.integers(0, size - w))
        y1 = int(rng.integers(0, size - h))
        img[y1 : y1 + h, x1 : x1 + w] += 70
        boxes.append([x1, y1, x1 + int(w), y1 + int(h)])
        labels.append(int(rng.integers(0, 3)))
    return np.clip(img, 0, 255).astype(np.uint8), boxes, labels


def make_coco_set(root):
    """4 synthetic PNG radiographs with boxes, COCO json (mmdet format)."""
    (root / 'images').mkdir()
    images, anns = [], []
    for i in range(4):
        img, boxes, labels = synthetic_cxr(100 + i)
        name = f'cxr_{i:03d}.png'
        cv2.imwrite(str(root / 'images' / name), img)
        images.append(dict(id=i, file_name=name, height=img.shape[0], width=img.shape[1]))
        for b, lab in zip(boxes, labels):
            x1, y1, x2, y2 = b
            anns.append(
                dict(
                    id=len(anns),
                    image_id=i,
                    category_id=lab,
                    bbox=[x1, y1, x2 - x1, y2 - y1],
                    area=(x2 - x1) * (y2 - y1),
                    iscrowd=0,
                )
            )
    cats = [dict(id=i, name=n) for i, n in enumerate(VINDR_CLASSES)]
    with open(root / 'ann.json', 'w') as f:
        json.dump(dict(images=images, annotations=anns, categories=cats), f)
    return root


def coco_pipeline(train: bool):
    p = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Resize', scale=(128, 128), keep_ratio=True),
    ]
    if train:
        p.append(dict(type='RandomFlip', prob=0.5))
    p.append(
        dict(
            type='PackDetInputs',
            meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'),
        )
    )
    return p


def coco_dataset_cfg(root, train: bool):
    return dict(
        type='CocoDataset',
        data_root=str(root),
        ann_file='ann.json',
        data_prefix=dict(img='images/'),
        metainfo=dict(classes=VINDR_CLASSES),
        filter_cfg=dict(filter_empty_gt=False),
        test_mode=not train,
        pipeline=coco_pipeline(train),
    )


def full_config(root, work_dir, custom_hooks=(), max_epochs=2) -> Config:
    """A complete trainable/testable config on the tiny COCO set."""
    cfg = small_model_cfg()
    loader = dict(
        batch_size=2,
        num_workers=0,
        persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=False),
    )
    cfg.merge_from_dict(
        dict(
            default_scope='mmdet',
            work_dir=str(work_dir),
            train_dataloader=dict(
                dataset=coco_dataset_cfg(root, True),
                collate_fn=dict(type='pseudo_collate'),
                **loader,
            ),
            val_dataloader=dict(
                dataset=coco_dataset_cfg(root, False), **dict(loader, batch_size=1)
            ),
            test_dataloader=dict(
                dataset=coco_dataset_cfg(root, False), **dict(loader, batch_size=1)
            ),
            val_evaluator=dict(type='CocoMetric', ann_file=str(root / 'ann.json'), metric='bbox'),
            test_evaluator=dict(type='CocoMetric', ann_file=str(root / 'ann.json'), metric='bbox'),
            train_cfg=dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1),
            val_cfg=dict(type='ValLoop'),
            test_cfg=dict(type='TestLoop'),
            optim_wrapper=dict(
                optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4)
            ),
            default_hooks=dict(
                timer=dict(type='IterTimerHook'),
                logger=dict(type='LoggerHook', interval=1),
                param_scheduler=dict(type='ParamSchedulerHook'),
                checkpoint=dict(type='CheckpointHook', interval=1),
                sampler_seed=dict(type='DistSamplerSeedHook'),
            ),
            custom_hooks=list(custom_hooks),
            env_cfg=dict(cudnn_benchmark=False, dist_cfg=dict(backend='gloo')),
            vis_backends=[dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')],
            visualizer=dict(
                type='DetLocalVisualizer',
                vis_backends=[dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')],
            ),
            log_level='INFO',
            randomness=dict(seed=0),
            custom_imports=dict(imports=['cxr_mm.register'], allow_failed_imports=False),
        )
    )
    return cfg


# ---- stage-1 tests -------------------------------------------------------------
STAGE1_DEMO_CFG = 'configs/barlowtwins_cxr/barlowtwins-cxr_resnet50_1xb8-12it_demo-nih-64.py'


def read_scalars(work_dir: str):
    """Rows of the newest run's vis_data/scalars.json under ``work_dir``."""
    import glob

    files = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    assert files, f'no scalars.json under {work_dir}'
    with open(files[-1]) as f:
        return [json.loads(line) for line in f if line.strip()]


def make_nih_demo(root: str) -> str:
    """Write an NIH ChestX-ray14-format demo set (PNGs, Data_Entry_2017.csv, lists)."""
    from cxr_mm.core.demo_data import make_nih

    make_nih(root, np.random.default_rng(0))
    assert osp.isfile(osp.join(root, 'Data_Entry_2017.csv'))
    return root


# ---- synthetic files in the official VinDr-CXR and NIH layouts ---------------------
KAGGLE_HEADER = 'image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max'
PHYSIONET_HEADER = 'image_id,rad_id,class_name,x_min,y_min,x_max,y_max'


def write_dicom(path, width, height):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = 'DX'
    ds.Rows, ds.Columns = height, width
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = 'MONOCHROME2'
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 12, 11
    ds.PixelRepresentation = 0
    ds.PixelData = np.full((height, width), 800, np.uint16).tobytes()
    os.makedirs(osp.dirname(path), exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def write_png(path, width, height):
    import cv2

    os.makedirs(osp.dirname(path), exist_ok=True)
    img = np.full((height, width), 100, np.uint8)
    cv2.rectangle(img, (width // 4, height // 4), (width // 2, height // 2), 220, -1)
    assert cv2.imwrite(path, img)


# Kaggle rows, with their line numbers (header is line 1).
UGLY_KAGGLE = [
    'a1,Cardiomegaly,3,R1,100,200,300,260',  # 2
    'a1,Cardiomegaly,3,R2,104,204,304,264',  # 3
    'a1,Cardiomegaly,3,R3,96,196,296,256',  # 4
    'a1,Nodule/Mass,8,R1,50,50,60,60',  # 5 single reader
    'a1,Cardiomegaly,3,R1,100,200,300,260',  # 6 exact duplicate of 2
    'a1,Lung Nodule,8,R2,10,10,20,20',  # 7 unknown class name
    'a1,Cardiomegaly,5,R3,10,10,20,20',  # 8 class_id mismatch
    'a1,Aortic enlargement,0,R2,,,,',  # 9 finding without coords
    'b2,No finding,14,R1,,,,',  # 10 negative image
    'b2,No finding,14,R2,,,,',  # 11
    'b2,No finding,14,R3,,,,',  # 12
    'c3,Pleural effusion,10,R1,-5,300,120,420',  # 13 past the border
    'c3,Pleural effusion,10,R2,10,10,10,50',  # 14 zero area
    'c3,No finding,14,R3,,,,',  # 15
    'd4,Cardiomegaly,3,R1,10,10,100,100',  # 16 image file missing
]


def many_vindr_images(root, n=90, seed=0):
    """n PNG images, 3 readers each, classes with skewed frequencies."""
    rng = np.random.default_rng(seed)
    rows = [KAGGLE_HEADER]
    freq = np.linspace(0.4, 0.05, len(VINDR_CLASSES))
    for k in range(n):
        image_id = f'img{k:03d}'
        write_png(str(root / 'train' / f'{image_id}.png'), 64, 64)
        present = [c for c in range(len(VINDR_CLASSES)) if rng.random() < freq[c] / 3]
        for rad in ('R1', 'R2', 'R3'):
            if not present:
                rows.append(f'{image_id},No finding,14,{rad},,,,')
            for c in present:
                x, y = 4 + 3 * c, 4 + 2 * c
                j = rng.integers(-1, 2)
                rows.append(
                    f'{image_id},{VINDR_CLASSES[c]},{c},{rad},{x + j},{y},{x + 20 + j},{y + 20}'
                )
    (root / 'train.csv').write_text('\n'.join(rows) + '\n')
    # The size table dicom_to_png.py writes next to the PNGs (original size = PNG size here).
    sizes = ['image_id,width,height'] + [f'img{k:03d},64,64' for k in range(n)]
    (root / 'train' / 'image_meta.csv').write_text('\n'.join(sizes) + '\n')
    return n


NIH_COLUMNS = (
    'Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,'
    'Patient Gender,View Position,OriginalImage[Width,Height],'
    'OriginalImagePixelSpacing[x,y]'
)
NIH_COMMON = ('Infiltration', 'Effusion', 'Atelectasis', 'Nodule', 'Mass')


def make_nih(root, n_patients=60, layout='flat', version='2017', seed=0):
    """Official-format CSV, lists and 16 px PNGs; returns the ground truth.

    Every 5th patient is a test patient (patient-disjoint lists, as the
    official ones). Patients 3, 8, ... (10 train_val patients) have Hernia,
    the rarest finding.
    """
    import cv2

    rng = np.random.default_rng(seed)
    root = str(root)
    os.makedirs(root, exist_ok=True)
    truth = dict(labels={}, patient={}, view={}, test=set(), tv=set())
    rows = []
    for p in range(1, n_patients + 1):
        primary = (
            'Hernia' if p % 5 == 3 and p <= 50 else NIH_COMMON[int(rng.integers(len(NIH_COMMON)))]
        )
        for k in range(1 + p % 4):
            name = f'{p:08d}_{k:03d}.png'
            findings = [primary] if (k == 0 or rng.random() < 0.5) else []
            if findings and rng.random() < 0.3:
                extra = NIH_COMMON[int(rng.integers(len(NIH_COMMON)))]
                if extra not in findings:
                    findings.append(extra)
            view = 'PA' if (p + k) % 3 else 'AP'
            label_str = '|'.join(findings) if findings else 'No Finding'
            row = f'{name},{label_str},{k},{p},{40 + p % 30:03d}Y,M,{view},2048,2500,0.143,0.143'
            rows.append(row + (',' if version == '2017' else ''))
            truth['labels'][name] = sorted(NIH_CLASSES.index(f) for f in findings)
            truth['patient'][name] = p
            truth['view'][name] = view
            (truth['test'] if p % 5 == 0 else truth['tv']).add(name)
            if layout == 'flat':
                d = osp.join(root, 'images')
            else:  # the official images_001/images/ ... layout
                d = osp.join(root, f'images_{1 + p % 3:03d}', 'images')
            os.makedirs(d, exist_ok=True)
            cv2.imwrite(osp.join(d, name), np.full((16, 16), p, np.uint8))
    header = NIH_COLUMNS + (',' if version == '2017' else '')
    ann = 'Data_Entry_2017.csv' if version == '2017' else 'Data_Entry_2017_v2020.csv'
    with open(osp.join(root, ann), 'w') as f:
        f.write('\n'.join([header] + rows) + '\n')
    with open(osp.join(root, 'train_val_list.txt'), 'w') as f:
        f.write('\n'.join(sorted(truth['tv'])) + '\n')
    with open(osp.join(root, 'test_list.txt'), 'w') as f:
        f.write('\n'.join(sorted(truth['test'])) + '\n')
    truth['ann_file'] = ann
    return truth


# ---- stage 2 on a tiny VinDr set: the demo recipe with the small detector ------------
DEMO_DET_CONFIG = osp.join(
    REPO_ROOT,
    'configs',
    'faster_rcnn_cxr',
    'faster-rcnn_r50-bt-cxr_fpn_1xb2-cos-3e_vindr-demo-256.py',
)


def small_vindr_setup(root, num_images: int = 5, seed: int = 0):
    """A tiny demo VinDr set (DICOMs), the demo config on it with the small
    detector (all images in every split, 128 px, no CAM hook) and a randomly
    initialised checkpoint. Returns ``(config_path, checkpoint_path, data_root)``."""
    from cxr_mm.core.demo_data import make_vindr

    root = str(root)
    data_root = osp.join(root, 'vindr')
    make_vindr(data_root, np.random.default_rng(seed), num_images, 0.2, (96, 128))
    cfg = Config.fromfile(DEMO_DET_CONFIG)
    cfg.model = small_model_cfg().model
    cfg.custom_hooks = []
    cfg.work_dir = osp.join(root, 'work')
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ds = cfg[loader].dataset
        ds.update(data_root=data_root + '/', split=None)
        for step in ds.pipeline:
            if step['type'] == 'Resize':
                step['scale'] = (128, 128)
    cfg.train_dataloader.dataset.filter_cfg = dict(filter_empty_gt=False)
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg_path = osp.join(root, 'small_vindr_frcnn.py')
    cfg.dump(cfg_path)
    ckpt = osp.join(root, 'random.pth')
    model = build_small_detector(seed)
    torch.save(
        dict(
            state_dict=model.state_dict(), meta=dict(dataset_meta=dict(classes=list(VINDR_CLASSES)))
        ),
        ckpt,
    )
    return cfg_path, ckpt, data_root


def synthetic_cam_input(detector, seed: int):
    """A synthetic radiograph (:func:`synthetic_cxr`) preprocessed for ``detector``."""
    from mmdet.structures import DetDataSample

    from cxr_mm.cam.inputs import preprocess

    img, _, _ = synthetic_cxr(seed)
    packed = dict(
        inputs=torch.from_numpy(np.repeat(img[None], 3, axis=0)),
        data_samples=DetDataSample(
            metainfo=dict(
                img_id=0,
                img_path='synthetic.png',
                ori_shape=img.shape,
                img_shape=img.shape,
                scale_factor=(1.0, 1.0),
            )
        ),
    )
    return preprocess(detector, packed)
