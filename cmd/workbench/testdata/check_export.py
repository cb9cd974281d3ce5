"""Independent check of `workbench export` with nibabel + numpy (run by the Go tests under /usr/bin/python3).

usage: check_export.py IMAGE EXPORT_DIR NAME CLASS=MASK[,...] SLICES

Asserts that NAME_seg.nii.gz and each NAME_CLASS_seg.nii.gz have the image's shape and affine, and that on the
given canonical axial slices they equal the source masks (later classes winning where masks overlap) while every
other slice is background. Prints one line per file checked.
"""
import sys

import nibabel as nib
import numpy as np

image_path, export_dir, name, mask_arg, slice_arg = sys.argv[1:6]
image = nib.load(image_path)
pairs = [item.split("=", 1) for item in mask_arg.split(",")]
slices = [int(s) for s in slice_arg.split(",")]

canonical_image = nib.as_closest_canonical(image)
expected = np.zeros(canonical_image.shape[:3], dtype=np.uint8)
for index, (_, path) in enumerate(pairs, start=1):
    mask = nib.as_closest_canonical(nib.load(path)).get_fdata()[..., :] >= 0.5
    expected[mask.reshape(expected.shape)] = index
keep = np.zeros(expected.shape[2], dtype=bool)
keep[slices] = True
expected[:, :, ~keep] = 0


def load_checked(path):
    img = nib.load(path)
    assert img.shape[:3] == image.shape[:3], f"{path}: shape {img.shape} != image {image.shape}"
    assert np.allclose(img.affine, image.affine, atol=1e-4), f"{path}: affine differs\n{img.affine}\n{image.affine}"
    assert img.get_data_dtype() == np.uint8, f"{path}: dtype {img.get_data_dtype()}"
    canonical = nib.as_closest_canonical(img)
    return np.asarray(canonical.dataobj).reshape(expected.shape)


seg = load_checked(f"{export_dir}/{name}_seg.nii.gz")
assert np.array_equal(seg, expected), f"class map differs in {int((seg != expected).sum())} voxels"
print(f"ok {name}_seg.nii.gz: {int((seg > 0).sum())} labelled voxels on slices {slices}")
for index, (cls, _) in enumerate(pairs, start=1):
    binary = load_checked(f"{export_dir}/{name}_{cls}_seg.nii.gz")
    assert np.array_equal(binary, (expected == index).astype(np.uint8)), f"{cls} mask differs"
    print(f"ok {name}_{cls}_seg.nii.gz: {int(binary.sum())} voxels")
