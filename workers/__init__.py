"""The OCR stages: rasterize, preprocess, recognize, searchable PDF, products, DMS record."""
