# Copyright (c) cxr-mm contributors. All rights reserved.
"""CAM heatmap overlays with ground-truth and predicted boxes (OpenCV)."""

from typing import Optional, Sequence

import cv2
import numpy as np
from pytorch_grad_cam.utils.image import show_cam_on_image

from cxr_mm.cam.boxes import label_name

GT_COLOR = (0, 255, 0)  # RGB
PRED_COLOR = (255, 255, 0)
FOCAL_COLOR = (255, 255, 255)


def _draw(img, box, color, text, thickness):
    h, w = img.shape[:2]
    x1, y1, x2, y2 = [int(round(v)) for v in box]
    x1, x2 = np.clip([x1, x2], 0, w - 1)
    y1, y2 = np.clip([y1, y2], 0, h - 1)
    cv2.rectangle(img, (int(x1), int(y1)), (int(x2), int(y2)), color, thickness)
    if text:
        scale = max(0.3, min(h, w) / 800)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = int(y1) - 2 if int(y1) - th - 2 >= 0 else int(y1) + th + 2
        cv2.rectangle(img, (int(x1), ty - th - 1), (int(x1) + tw, ty + base), (0, 0, 0), -1)
        cv2.putText(
            img, text, (int(x1), ty), cv2.FONT_HERSHEY_SIMPLEX, scale, color, 1, cv2.LINE_AA
        )


def render_overlay(
    image: np.ndarray,
    cam: np.ndarray,
    gt_boxes: Optional[np.ndarray] = None,
    gt_labels: Optional[np.ndarray] = None,
    pred_boxes: Optional[np.ndarray] = None,
    pred_labels: Optional[np.ndarray] = None,
    pred_scores: Optional[np.ndarray] = None,
    focal_box: Optional[np.ndarray] = None,
    focal_text: str = '',
    class_names: Optional[Sequence[str]] = None,
    image_weight: float = 0.5,
) -> np.ndarray:
    """RGB uint8 picture: JET heatmap over ``image`` plus boxes.

    Ground truth is green, other predictions cyan-yellow, the explained
    (focal) box white and thick. ``cam`` may be larger than ``image`` (the
    padded network input): it is cropped to the image.

    Args:
        image (np.ndarray): (h, w, 3) uint8 RGB.
        cam (np.ndarray): (H, W) heatmap in [0, 1], H >= h, W >= w.
    """
    h, w = image.shape[:2]
    cam = np.asarray(cam, dtype=np.float32)[:h, :w]
    if cam.shape != (h, w):
        raise ValueError(f'heatmap {cam.shape} smaller than image {(h, w)}')
    out = show_cam_on_image(
        image.astype(np.float32) / 255.0,
        np.clip(cam, 0, 1),
        use_rgb=True,
        image_weight=image_weight,
    )
    out = np.ascontiguousarray(out)
    thick = max(1, round(min(h, w) / 300))
    if pred_boxes is not None:
        for i, box in enumerate(np.asarray(pred_boxes).reshape(-1, 4)):
            text = label_name(pred_labels[i], class_names)
            if pred_scores is not None:
                text += f' {float(pred_scores[i]):.2f}'
            _draw(out, box, PRED_COLOR, text, thick)
    if gt_boxes is not None:
        for i, box in enumerate(np.asarray(gt_boxes).reshape(-1, 4)):
            _draw(out, box, GT_COLOR, 'GT ' + label_name(gt_labels[i], class_names), thick)
    if focal_box is not None:
        _draw(out, focal_box, FOCAL_COLOR, focal_text, thick + 1)
    return out


def save_rgb(path: str, image: np.ndarray) -> None:
    """Write an RGB uint8 picture (cv2 expects BGR)."""
    if not cv2.imwrite(str(path), np.ascontiguousarray(image[..., ::-1])):
        raise OSError(f'could not write {path}')


def mosaic(images: Sequence[np.ndarray], cols: Optional[int] = None) -> np.ndarray:
    """Equal-size RGB pictures in a grid (``cols`` per row, all by default),
    black where a row is short."""
    if not len(images):
        raise ValueError('mosaic of no image')
    h, w = images[0].shape[:2]
    if any(img.shape[:2] != (h, w) for img in images):
        raise ValueError(f'mosaic needs equal sizes, got {[img.shape[:2] for img in images]}')
    cols = min(cols or len(images), len(images))
    rows = -(-len(images) // cols)
    out = np.zeros((rows * h, cols * w, 3), np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        out[r * h : (r + 1) * h, c * w : (c + 1) * w] = img
    return out
