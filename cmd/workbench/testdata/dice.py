"""Grey-matter (and white-matter) Dice of a `workbench export` against the expert masks, with nibabel + numpy only,
independent of the workbench's code.

usage: dice.py SEG CORD_MASK GM_MASK SLICES

SEG is the exported NAME_seg.nii.gz (class indices in the source grid: 1 = wm, 2 = gm); CORD_MASK and GM_MASK are
the expert masks in the same grid (WM = cord and not GM). SLICES are the canonical axial slices to score
(0 = most inferior, comma-separated), e.g. the slices held back from training. Prints one line per class with the
Dice pooled over those slices, then per-slice GM Dice.
"""
import sys

import nibabel as nib
import numpy as np

seg_path, cord_path, gm_path, slice_arg = sys.argv[1:5]
slices = [int(s) for s in slice_arg.split(",")]


def canonical(path):
    return np.asarray(nib.as_closest_canonical(nib.load(path)).dataobj)


seg = canonical(seg_path).astype(np.uint8)
gm = canonical(gm_path) >= 0.5
cord = canonical(cord_path) >= 0.5
truth = np.zeros(seg.shape, dtype=np.uint8)
truth[cord] = 1
truth[gm] = 2
assert seg.shape == truth.shape, f"shape {seg.shape} != masks {truth.shape}"


def dice(pred, true):
    inter = np.logical_and(pred, true).sum()
    total = pred.sum() + true.sum()
    return 1.0 if total == 0 else 2.0 * inter / total


for cls, name in ((1, "wm"), (2, "gm")):
    d = dice(seg[:, :, slices] == cls, truth[:, :, slices] == cls)
    print(f"{name} Dice {d:.4f} on slices {slice_arg}")
per_slice = [f"{z}:{dice(seg[:, :, z] == 2, truth[:, :, z] == 2):.3f}" for z in slices]
print("gm Dice per slice " + " ".join(per_slice))
