"""Per-class Dice of a `workbench export` of one hippocampus case against its MSD label map, with nibabel + numpy
only, independent of the workbench's code.

usage: hippo_dice.py SEG LABELS

SEG is the exported NAME_seg.nii.gz (1 = anterior, 2 = posterior), LABELS the case's labelsTr/NAME.nii.gz. Both are
compared in their closest canonical orientation over the whole volume. Prints one line:
"anterior 0.8123 posterior 0.7901 mean 0.8012".
"""
import sys

import nibabel as nib
import numpy as np

seg_path, label_path = sys.argv[1:3]


def canonical(path):
    return np.asarray(nib.as_closest_canonical(nib.load(path)).dataobj)


seg = np.rint(canonical(seg_path)).astype(np.int64)
truth = np.rint(canonical(label_path)).astype(np.int64)
assert seg.shape == truth.shape, f"shape {seg.shape} != labels {truth.shape}"


def dice(pred, true):
    inter = np.logical_and(pred, true).sum()
    total = pred.sum() + true.sum()
    return 1.0 if total == 0 else 2.0 * inter / total


scores = [dice(seg == c, truth == c) for c in (1, 2)]
print(f"anterior {scores[0]:.4f} posterior {scores[1]:.4f} mean {np.mean(scores):.4f}")
