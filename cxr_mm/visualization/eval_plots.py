"""Plots of detection evaluation results: PR curves and per-class AP.

matplotlib with the Agg backend (no display on training nodes); each function writes one
PNG and closes its figure.
"""

from typing import Sequence

import numpy as np

from ..core.classes import NO_FINDING


def _pyplot():
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    return plt


def plot_pr_curves(
    path: str, classes: Sequence[str], per_class: Sequence[dict], iou_thr: float
) -> None:
    """One precision-recall panel per class, AP in the title."""
    plt = _pyplot()
    cols = 4
    rows = int(np.ceil(len(classes) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, name, res in zip(axes.flat, classes, per_class):
        if res['recall'].size:
            ax.plot(np.r_[0, res['recall']], np.r_[1, res['precision']], lw=1.5)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.set_title(
            f'{name}\nAP{int(iou_thr * 100)}={res["ap"]:.3f} (gts={res["num_gts"]})', fontsize=9
        )
        ax.set_xlabel('recall', fontsize=8)
        ax.set_ylabel('precision', fontsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(classes) :]:
        ax.axis('off')
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_ap_bars(
    path: str,
    classes: Sequence[str],
    voc: Sequence[dict],
    kaggle: Sequence[dict],
    iou_thr: float,
    kaggle_iou_thr: float,
) -> None:
    """Horizontal bars of per-class AP at both IoUs (and Kaggle's No finding)."""
    plt = _pyplot()
    names = list(classes) + [NO_FINDING]
    ap_voc = [r['ap'] for r in voc] + [np.nan]
    ap_kaggle = [r['ap'] for r in kaggle]
    y = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(8, 0.4 * len(names) + 1.5))
    ax.barh(y - 0.2, np.nan_to_num(ap_voc), 0.4, label=f'AP{int(iou_thr * 100)}')
    ax.barh(y + 0.2, ap_kaggle, 0.4, label=f'AP{int(kaggle_iou_thr * 100)} (Kaggle)')
    ax.set_yticks(y, [f'{n} ({r["num_gts"]})' for n, r in zip(names, kaggle)])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel('average precision (ground-truth boxes in brackets)')
    ax.legend(loc='lower right')
    ax.grid(axis='x', alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
