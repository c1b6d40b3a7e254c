"""Plots of detection evaluation results: PR curves, per-class AP, FROC, label efficiency.

matplotlib with the Agg backend (no display on training nodes); each function writes one
PNG and closes its figure.
"""

from typing import Dict, Optional, Sequence

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


def plot_froc(path: str, result: dict, iou_thr: float) -> None:
    """Lesion-level FROC curve (log FP/image axis) with the CPM operating points.

    Args:
        result (dict): from :func:`cxr_mm.evaluation.functional.froc`.
    """
    plt = _pyplot()
    curve = result['curve']
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    fppi = np.asarray(curve['fppi'], float)
    sens = np.nan_to_num(np.asarray(curve['sensitivity'], float))
    lo = min(result['rates']) / 2
    ax.step(np.maximum(fppi, lo), sens, where='post', lw=1.5, label='all classes')
    ax.plot(result['rates'], np.nan_to_num(result['sensitivity_at']), 'o', label='CPM points')
    ax.set_xscale('log', base=2)
    ax.set_xlim(lo, max(result['rates']) * 1.5)
    ax.set_ylim(0, 1.02)
    ax.set_xticks(result['rates'], [f'{r:g}' for r in result['rates']])
    ax.set_xlabel('false positives per image')
    ax.set_ylabel('lesion sensitivity')
    ax.set_title(
        f'FROC (IoU >= {iou_thr:g}, {result["num_gts"]} lesions, '
        f'{result["num_images"]} images): CPM {result["cpm"]:.3f}',
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    ax.legend(loc='lower right')
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_label_efficiency(
    path: str,
    series: Dict[str, Dict[float, Dict[str, dict]]],
    metrics: Sequence[str] = ('mAP50', 'CPM'),
    scale: float = 100.0,
    title: Optional[str] = None,
) -> None:
    """Metric vs label fraction with 95 % intervals, one line per initialisation.

    Args:
        series (dict): ``{init: {fraction: {metric: {'mean', 'low', 'high'}}}}``
            (``low``/``high`` None: no interval, drawn without error bar).
        metrics (Sequence[str]): one panel each.
    """
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for init, by_frac in series.items():
            fracs = sorted(f for f in by_frac if metric in by_frac[f])
            if not fracs:
                continue
            mean = np.array([by_frac[f][metric]['mean'] for f in fracs]) * scale
            low = np.array([_or_nan(by_frac[f][metric]['low']) for f in fracs]) * scale
            high = np.array([_or_nan(by_frac[f][metric]['high']) for f in fracs]) * scale
            err = np.nan_to_num(np.vstack([mean - low, high - mean]))
            x = np.array(fracs) * 100
            ax.errorbar(x, mean, yerr=err, marker='o', capsize=4, label=init)
        ax.set_xscale('log')
        ax.set_xticks([10, 25, 50, 100], ['10', '25', '50', '100'])
        ax.set_xlabel('labelled training images (%)')
        ax.set_ylabel(f'{metric} (x{scale:g})')
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _or_nan(v) -> float:
    return float('nan') if v is None else float(v)
