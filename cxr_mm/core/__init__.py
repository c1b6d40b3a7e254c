"""Framework-free building blocks (no mmdet/mmpretrain import).

classes (every class list and suffix), dicom (the grey pipeline), j2k
(reduced-resolution JPEG 2000), image_size, prepared (the converters' resumable,
atomic, option-checked output folders), csv_table, splits, box_fusion, demo_data.
Import the submodule you need: ``from cxr_mm.core.dicom import read_dicom``.
"""
