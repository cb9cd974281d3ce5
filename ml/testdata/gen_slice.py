"""Exports one real labelled MRI slice for the engine's training test (run from ml/:
/usr/bin/python3 testdata/gen_slice.py). Source: ../shared/data/gm-challenge-data (CC0), subject
sub-9709Ses1, T2*-weighted, slice 10 of 20. The 48x48 crop is centred on the cord (placed with
the label, which is fine for a test of the optimiser), the image is normalised by the slice's
mean and standard deviation, and the mask holds 0 background, 1 white matter (cord and not grey
matter), 2 grey matter. Writes slice_t2s_48x48.f32 (float32 little-endian, row-major) and
slice_t2s_48x48.u8."""
import os

import nibabel as nib
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.normpath(os.path.join(here, "..", "..", "..", "shared", "data", "gm-challenge-data"))
sub = "sub-9709Ses1"
if not os.path.isdir(root):
    print("skipped: real data absent at", root, "- keeping the committed slice fixture")
    raise SystemExit(0)
img = nib.load(os.path.join(root, sub, "anat", f"{sub}_run-1_T2starw.nii.gz")).get_fdata()
lab = os.path.join(root, "derivatives", "labels", sub, "anat", f"{sub}_run-1_T2starw_")
cord = nib.load(lab + "seg-manual.nii.gz").get_fdata() > 0.5
gm = nib.load(lab + "gmseg-manual.nii.gz").get_fdata() > 0.5

z, size = 10, 48
cy, cx = (int(round(v)) for v in np.argwhere(cord[:, :, z]).mean(axis=0))
sl = np.s_[cy - size // 2: cy + size // 2, cx - size // 2: cx + size // 2, z]
x = img[sl].astype(np.float64)
x = ((x - x.mean()) / x.std()).astype("<f4")
mask = np.zeros(x.shape, dtype=np.uint8)
mask[cord[sl]] = 1
mask[gm[sl]] = 2
x.tofile(os.path.join(here, f"slice_t2s_{size}x{size}.f32"))
mask.tofile(os.path.join(here, f"slice_t2s_{size}x{size}.u8"))
print("slice", z, "centre", cy, cx, "pixels per class", np.bincount(mask.ravel(), minlength=3))
