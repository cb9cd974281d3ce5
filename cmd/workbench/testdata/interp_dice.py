"""Cord and grey-matter Dice of interpolated slices against the expert masks, with nibabel + numpy only,
independent of the workbench's code.

usage: interp_dice.py SEG CORD_MASK GM_MASK SLICES

SEG is the exported NAME_seg.nii.gz (class indices in the source grid: 1 = wm, 2 = gm); CORD_MASK and GM_MASK are
the expert masks in the same grid. The cord is every voxel of a class (wm or gm): SEG > 0 against CORD_MASK; grey
matter is SEG == 2 against GM_MASK. SLICES are the canonical axial slices to score (0 = most inferior, after
nibabel's as_closest_canonical), comma-separated: the interpolated ones. Prints a line per slice, the means, and
last a JSON line {"cord": [...], "gm": [...], "cordMean": x, "gmMean": y} for the Go test.
"""
import json
import sys

import nibabel as nib
import numpy as np

seg_path, cord_path, gm_path, slice_arg = sys.argv[1:5]
slices = [int(s) for s in slice_arg.split(",")]


def canonical(path):
    return np.asarray(nib.as_closest_canonical(nib.load(path)).dataobj)


seg = canonical(seg_path).astype(np.uint8)
cord = canonical(cord_path) >= 0.5
gm = canonical(gm_path) >= 0.5
assert seg.shape == cord.shape == gm.shape, f"shape {seg.shape} != masks {cord.shape}, {gm.shape}"


def dice(pred, true):
    inter = np.logical_and(pred, true).sum()
    total = pred.sum() + true.sum()
    return 1.0 if total == 0 else float(2.0 * inter / total)


cord_dice = [dice(seg[:, :, z] > 0, cord[:, :, z]) for z in slices]
gm_dice = [dice(seg[:, :, z] == 2, gm[:, :, z]) for z in slices]
for z, c, g in zip(slices, cord_dice, gm_dice):
    print(f"slice {z:3d}: cord Dice {c:.4f}, gm Dice {g:.4f}")
print(f"mean over {len(slices)} slices: cord Dice {np.mean(cord_dice):.4f}, gm Dice {np.mean(gm_dice):.4f}")
print(json.dumps({"cord": cord_dice, "gm": gm_dice, "cordMean": float(np.mean(cord_dice)),
                  "gmMean": float(np.mean(gm_dice))}))
