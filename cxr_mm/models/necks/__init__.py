# Components are imported here so that 'import cxr_mm' registers them.
