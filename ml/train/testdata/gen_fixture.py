"""Exports the gm-challenge developer volume as a small fixture for ml/train's real-data tests.

Run from ml/train as `/usr/bin/python3 testdata/gen_fixture.py`. Reads ../../../shared/data (the repository's
sibling shared/data) with nibabel and writes testdata/gm_challenge.bin.gz: one JSON header line, then the 20 whole
axial slices as uint16 little-endian intensities, then their class maps as uint8 (0 background, 1 white matter =
cord minus grey matter, 2 grey matter). Pixel (x, y) of slice z is voxel (i=x, j=y, k=z) of the NIfTI array, x
fastest. Whole slices (256x192) are kept so tests exercise inference on slices larger than any training crop.
"""
import gzip
import json
import os

import nibabel as nib
import numpy as np

ROOT = os.path.join("..", "..", "..", "shared", "data", "gm-challenge-data")
SUB = "sub-9709Ses1"
IMAGE = os.path.join(ROOT, SUB, "anat", f"{SUB}_run-1_T2starw.nii.gz")
LABELS = os.path.join(ROOT, "derivatives", "labels", SUB, "anat")
GM = os.path.join(LABELS, f"{SUB}_run-1_T2starw_gmseg-manual.nii.gz")
CORD = os.path.join(LABELS, f"{SUB}_run-1_T2starw_seg-manual.nii.gz")
OUT = os.path.join("testdata", "gm_challenge.bin.gz")


def main():
    img = nib.load(IMAGE)
    image = np.asanyarray(img.dataobj)
    gm = np.asanyarray(nib.load(GM).dataobj) > 0.5
    cord = np.asanyarray(nib.load(CORD).dataobj) > 0.5
    if image.min() < 0 or image.max() > 65535:
        raise SystemExit("intensities do not fit uint16")
    classes = np.zeros(image.shape, np.uint8)
    classes[cord & ~gm] = 1
    classes[gm] = 2
    w, h, n = image.shape
    zooms = img.header.get_zooms()
    header = {
        "source": f"gm-challenge-data/{SUB}/anat/{SUB}_run-1_T2starw.nii.gz",
        "w": int(w), "h": int(h), "slices": int(n),
        "spacing": [float(zooms[0]), float(zooms[1])],
        "classes": ["white matter", "grey matter"],
    }
    # (i, j, k) -> per slice k a (j, i) array in C order: x = i runs fastest.
    pixels = np.ascontiguousarray(image.transpose(2, 1, 0)).astype("<u2")
    labels = np.ascontiguousarray(classes.transpose(2, 1, 0))
    with gzip.GzipFile(OUT, "wb", compresslevel=9, mtime=0) as f:
        f.write((json.dumps(header, sort_keys=True) + "\n").encode())
        f.write(pixels.tobytes())
        f.write(labels.tobytes())
    print(f"wrote {OUT}: {os.path.getsize(OUT)} bytes, {n} slices of {w}x{h}")


if __name__ == "__main__":
    main()
