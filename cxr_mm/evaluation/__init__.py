"""Detection / classification evaluation.

Light on purpose: ``cxr_mm.evaluation.stats`` is numpy/scipy only and is imported by
tools and the CAM code. ``cxr_mm.register`` imports :mod:`.metrics`, which registers
the metrics (and loads mmdet); ``functional`` holds the metric math.
"""
