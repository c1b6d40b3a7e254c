# Copyright (c) cxr-mm contributors. All rights reserved.
"""The VinDr dataset summary as text: what was loaded, dropped, ignored, and why."""

from typing import List


def summary_lines(s: dict) -> List[str]:
    """The lines of ``VinDrCXRDataset.format_summary()`` from its ``summary`` dict."""
    labels = s['image_labels_file'] or (
        'absent (normal = every annotation row of the image says No finding)'
    )
    lines = [
        f'VinDrCXRDataset summary ({s["ann_file"]}, split={s["split"]}, '
        f'test set {s["test_set"]}, fusion={s["fusion"]}, '
        f'outside_labels={s["outside_labels"]}):',
        f'  images: {s["images"]} kept of {s["images_in_split"]} in split'
        f' ({s["images_annotated"]} annotated); negatives '
        f'{s["images_negative"]} ({s["images_negative_dropped"]} '
        f'dropped); missing files {s["images_missing_file"]}',
        f'  normal ("No finding"): {s["images_normal"]}; without a box yet not normal '
        f'(fusion dropped them, or findings outside the classes): '
        f'{s["images_no_box_not_normal"]}; dropped for outside labels '
        f'{s["images_dropped_outside_labels"]}',
        f'  image labels: {labels}; images not in it {s["images_not_in_image_labels"]}, '
        f'abnormal by it only {s["images_abnormal_by_image_labels_only"]}',
        '  rows: ' + ', '.join(f'{k}={v}' for k, v in s['rows'].items()),
    ]
    if s['outside_or_invalid_per_label']:
        lines.append(
            '  labels outside the classes / invalid rows (boxes as ignore regions, '
            'unlocated, dropped < 1 px):'
        )
        for name, c in s['outside_or_invalid_per_label'].items():
            lines.append(
                f'    {name:<30} {c["ignore_regions"]:>6} {c["unlocated"]:>6} {c["degenerate"]:>6}'
            )
    lines.append(f'  {"class":<20} {"raw":>7} {"clean":>7} {"fused":>7}')
    for c in s['boxes_per_class_raw']:
        lines.append(
            f'  {c:<20} {s["boxes_per_class_raw"][c]:>7} '
            f'{s["boxes_per_class_clean"][c]:>7} '
            f'{s["boxes_per_class_fused"][c]:>7}'
        )
    return lines
