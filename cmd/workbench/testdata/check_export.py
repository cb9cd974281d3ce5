"""Independent check of `workbench export` with nibabel + numpy (run by the Go tests under /usr/bin/python3).

usage: check_export.py IMAGE EXPORT_DIR NAME CLASS=MASK[,...] SLICES

Asserts that NAME_seg.nii.gz and each NAME_CLASS_seg.nii.gz are uint8 in the image's grid and geometry (shape,
affine, qform and sform codes and matrices, qfac and voxel sizes in pixdim), and that on the given canonical axial
slices they equal the source masks (later classes winning where masks overlap) while every other slice is
background. Files are looked for in EXPORT_DIR/NAME/ and then EXPORT_DIR/. Prints one line per file checked.
"""
import os
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


def exported(file_name):
    """The exported file, in a per-volume subdirectory or directly in the export directory."""
    for path in (os.path.join(export_dir, name, file_name), os.path.join(export_dir, file_name)):
        if os.path.exists(path):
            return path
    raise AssertionError(f"{file_name} not found in {export_dir} or {export_dir}/{name}")


def check_geometry(path, img):
    """The header fields issue 2 names: qform/sform codes and transforms, qfac, voxel sizes."""
    src, got = image.header, img.header
    for key in ("qform_code", "sform_code"):
        assert int(got[key]) == int(src[key]), f"{path}: {key} {int(got[key])} != image {int(src[key])}"
    assert np.allclose(got["pixdim"][:4], src["pixdim"][:4], rtol=1e-6, atol=1e-7), \
        f"{path}: pixdim[0:4] {got['pixdim'][:4]} != image {src['pixdim'][:4]}"
    if int(src["qform_code"]) > 0:
        assert np.allclose(img.get_qform(), image.get_qform(), atol=1e-4), \
            f"{path}: qform differs\n{img.get_qform()}\n{image.get_qform()}"
    if int(src["sform_code"]) > 0:
        assert np.allclose(img.get_sform(), image.get_sform(), atol=1e-4), \
            f"{path}: sform differs\n{img.get_sform()}\n{image.get_sform()}"


def load_checked(file_name):
    path = exported(file_name)
    img = nib.load(path)
    assert img.shape[:3] == image.shape[:3], f"{path}: shape {img.shape} != image {image.shape}"
    assert np.allclose(img.affine, image.affine, atol=1e-4), f"{path}: affine differs\n{img.affine}\n{image.affine}"
    assert img.get_data_dtype() == np.uint8, f"{path}: dtype {img.get_data_dtype()}"
    check_geometry(path, img)
    canonical = nib.as_closest_canonical(img)
    return np.asarray(canonical.dataobj).reshape(expected.shape)


seg = load_checked(f"{name}_seg.nii.gz")
assert np.array_equal(seg, expected), f"class map differs in {int((seg != expected).sum())} voxels"
print(f"ok {name}_seg.nii.gz: {int((seg > 0).sum())} labelled voxels on slices {slices}")
for index, (cls, _) in enumerate(pairs, start=1):
    binary = load_checked(f"{name}_{cls}_seg.nii.gz")
    assert np.array_equal(binary, (expected == index).astype(np.uint8)), f"{cls} mask differs"
    print(f"ok {name}_{cls}_seg.nii.gz: {int(binary.sum())} voxels")
