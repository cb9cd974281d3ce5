"""Writes the label map fixtures of labelmap_test.go with nibabel (run from internal/ingest: `make golden`).

testdata/labelmaps/ holds a small synthetic image on a flipped, anisotropic grid (LPS-like: axes 0 and 1 point
left-to-right and posterior, so the workbench's canonical RAS+ grid flips both), a good integer label map of it
(uint8, and the same values stored as float32), maps each refused for one reason, and canonical.bin: the good
map on nibabel's closest canonical grid, as uint8 with axis 0 fastest, the independent reference the Go
decoding is compared to.
"""
import os

import nibabel as nib
import numpy as np

out = os.path.join("testdata", "labelmaps")
os.makedirs(out, exist_ok=True)
shape = (6, 5, 4)
affine = np.array([[-2.0, 0, 0, 30], [0, -1.5, 0, 20], [0, 0, 3, -10], [0, 0, 0, 1]])
rng = np.random.default_rng(11)


def save(name, data, aff=affine, dtype=None):
    img = nib.Nifti1Image(np.asarray(data, dtype=dtype), aff)
    img.set_qform(aff, code=1)
    img.set_sform(aff, code=1)
    img.header.set_data_dtype(dtype)
    nib.save(img, os.path.join(out, name))


save("image.nii.gz", rng.uniform(0, 100, shape), dtype=np.float32)
labels = rng.integers(0, 3, shape).astype(np.uint8)  # classes 1 and 2 of a two-class project
save("labels.nii.gz", labels, dtype=np.uint8)
save("labels_float.nii.gz", labels.astype(np.float32), dtype=np.float32)


def spoiled(value, at, dtype):
    data = labels.astype(dtype)
    data[at] = value
    return data


save("fractional.nii.gz", spoiled(1.5, (1, 2, 3), np.float32), dtype=np.float32)
save("negative.nii.gz", spoiled(-1, (2, 0, 1), np.int16), dtype=np.int16)
save("nan.nii.gz", spoiled(np.nan, (0, 1, 2), np.float32), dtype=np.float32)
save("beyond.nii.gz", spoiled(3, (4, 3, 2), np.uint8), dtype=np.uint8)
save("othershape.nii.gz", np.zeros((6, 5, 5), np.uint8), dtype=np.uint8)
shifted = affine.copy()
shifted[0, 3] += 5
save("shifted.nii.gz", labels, aff=shifted, dtype=np.uint8)
save("fourd.nii.gz", np.stack([labels == 1, labels == 2], axis=-1).astype(np.uint8), dtype=np.uint8)

canonical = nib.as_closest_canonical(nib.load(os.path.join(out, "labels.nii.gz")))
data = np.asarray(canonical.dataobj).astype(np.uint8)
with open(os.path.join(out, "canonical.bin"), "wb") as f:
    f.write(data.tobytes(order="F"))  # axis 0 fastest
print(f"wrote {len(os.listdir(out))} files to {out}; canonical shape {data.shape}, "
      f"axis codes {nib.aff2axcodes(canonical.affine)} from {nib.aff2axcodes(affine)}")
