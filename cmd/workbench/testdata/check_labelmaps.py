"""Independent check that `workbench export` gives back the label maps imported (run by the Go tests under
/usr/bin/python3, with nibabel + numpy only).

usage: check_labelmaps.py EXPORT_DIR CLASS[,CLASS...] NAME=SOURCE_LABEL_MAP [...]

For each NAME, EXPORT_DIR/NAME/NAME_seg.nii.gz must be uint8 on the source map's grid (shape, affine) with the
source's values voxel for voxel, and each NAME_CLASS_seg.nii.gz the binary mask of its class. Prints one line
per volume.
"""
import os
import sys

import nibabel as nib
import numpy as np

export_dir, class_arg = sys.argv[1:3]
classes = class_arg.split(",")
for pair in sys.argv[3:]:
    name, source_path = pair.split("=", 1)
    source = nib.load(source_path)
    want = np.asarray(source.dataobj)
    assert np.all(want == np.round(want)) and want.min() >= 0, f"{source_path}: not a label map"
    want = want.astype(np.int64)

    def load(file_name):
        path = os.path.join(export_dir, name, file_name)
        img = nib.load(path)
        assert img.get_data_dtype() == np.uint8, f"{path}: dtype {img.get_data_dtype()}"
        assert img.shape == source.shape, f"{path}: shape {img.shape} != source {source.shape}"
        assert np.allclose(img.affine, source.affine, atol=1e-4), f"{path}: affine differs\n{img.affine}\n{source.affine}"
        return np.asarray(img.dataobj).astype(np.int64)

    seg = load(f"{name}_seg.nii.gz")
    differ = int((seg != want).sum())
    assert differ == 0, f"{name}: exported map differs from {source_path} in {differ} voxels"
    for k, cls in enumerate(classes, start=1):
        binary = load(f"{name}_{cls}_seg.nii.gz")
        assert np.array_equal(binary, (want == k).astype(np.int64)), f"{name}: {cls} mask differs"
    counts = ", ".join(f"{cls} {int((want == k).sum())}" for k, cls in enumerate(classes, start=1))
    print(f"ok {name}: {seg.shape} equal to {os.path.basename(source_path)} ({counts} voxels)")
