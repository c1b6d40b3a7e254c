# Copyright (c) cxr-mm contributors. All rights reserved.
"""Every class list, label name and file suffix of cxr-mm, in one place.

Framework-free (no mmdet/mmpretrain import), so converters, the demo-data
generator and the datasets share the very same tuples.
"""

#: The 14 lesion classes of the VinBigData challenge, in Kaggle ``class_id`` order.
VINDR_CLASSES = (
    'Aortic enlargement',
    'Atelectasis',
    'Calcification',
    'Cardiomegaly',
    'Consolidation',
    'ILD',
    'Infiltration',
    'Lung Opacity',
    'Nodule/Mass',
    'Other lesion',
    'Pleural effusion',
    'Pleural thickening',
    'Pneumothorax',
    'Pulmonary fibrosis',
)
#: VinDr-CXR's negative read (Kaggle ``class_id`` 14).
NO_FINDING = 'No finding'
NO_FINDING_ID = 14
#: PhysioNet local labels that are not among the 14 challenge classes.
PHYSIONET_EXTRA_LOCAL_LABELS = (
    'Clavicle fracture',
    'Edema',
    'Emphysema',
    'Enlarged PA',
    'Lung cavity',
    'Lung cyst',
    'Mediastinal shift',
    'Rib fracture',
)
#: PhysioNet global (image-level, boxless) labels, should they appear.
PHYSIONET_GLOBAL_LABELS = (
    'COPD',
    'Lung tumor',
    'Pneumonia',
    'Tuberculosis',
    'Other diseases',
    'Other disease',
)

#: The 14 findings of NIH ChestX-ray14, in the usual benchmark order.
NIH_CLASSES = (
    'Atelectasis',
    'Cardiomegaly',
    'Effusion',
    'Infiltration',
    'Mass',
    'Nodule',
    'Pneumonia',
    'Pneumothorax',
    'Consolidation',
    'Edema',
    'Emphysema',
    'Fibrosis',
    'Pleural_Thickening',
    'Hernia',
)
#: NIH's negative label (capital F, unlike VinDr's).
NIH_NO_FINDING = 'No Finding'

DICOM_SUFFIXES = ('.dcm', '.dicom', '.dic')
RASTER_SUFFIXES = ('.png', '.jpg', '.jpeg', '.tif', '.tiff', '.bmp')
