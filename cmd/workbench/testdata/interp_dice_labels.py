"""Dice of interpolated slices against an expert label map (0 = background, 1..K = classes), with nibabel + numpy
only, independent of the workbench's code.

usage: interp_dice_labels.py SEG LABELS SLICES

SEG is an exported NAME_seg.nii.gz, LABELS the expert label map in the same grid; SLICES the labelled canonical
axial slices (after nibabel's as_closest_canonical), comma-separated: every slice strictly between the first and
the last that is not one of them is scored. Prints the whole structure's (every class together) Dice averaged
over those slices and each class's Dice pooled over them, then a JSON line {"whole": x, "classes": [...]}.
"""
import json
import sys

import nibabel as nib
import numpy as np

seg_path, labels_path, slice_arg = sys.argv[1:4]
labelled = sorted(int(s) for s in slice_arg.split(","))


def canonical(path):
    return np.asarray(nib.as_closest_canonical(nib.load(path)).dataobj)


seg = canonical(seg_path).astype(np.int64)
truth = np.rint(canonical(labels_path)).astype(np.int64)
assert seg.shape == truth.shape, f"shape {seg.shape} != labels {truth.shape}"
scored = [z for z in range(labelled[0] + 1, labelled[-1]) if z not in labelled]


def dice(pred, true):
    total = pred.sum() + true.sum()
    return 1.0 if total == 0 else float(2.0 * np.logical_and(pred, true).sum() / total)


whole = float(np.mean([dice(seg[:, :, z] > 0, truth[:, :, z] > 0) for z in scored]))
classes = [dice(seg[:, :, scored] == k, truth[:, :, scored] == k) for k in range(1, int(truth.max()) + 1)]
print(f"{len(scored)} interpolated slices: whole Dice {whole:.4f}; per class (pooled) "
      + " ".join(f"{k}:{d:.4f}" for k, d in enumerate(classes, start=1)))
print(json.dumps({"whole": whole, "classes": classes}))
