"""Writes testdata/golden.json: what nibabel reads from every NIfTI file of ../shared/data and from nibabel's
own test files, for nifti's tests to compare against. Run from nifti/ as /usr/bin/python3 testdata/gen_golden.py.

Per file: header version, byte order, datatype, raw shape, scl_slope/inter, xform codes, the chosen affine,
qform and sform affines, axis codes, extensions (code, length and sha256 of the NUL-stripped content, as
nibabel keeps it), and a digest of the voxel values (float64 statistics and sampled values in file order);
then the same for nibabel.as_closest_canonical. Multi-volume files are digested on volume 0 and flagged with
their volume count (the Go reader refuses them; its internal first-volume path is checked against this).
"""
import hashlib
import json
import os
import sys

import nibabel as nib
import numpy as np

NIBABEL_DATA = os.path.join(os.path.dirname(nib.__file__), "tests", "data")
NIBABEL_FILES = [
    "anatomical.nii",  # big-endian NIfTI-1
    "functional.nii",  # 4-D, 20 volumes
    "example_nifti2.nii.gz",  # NIfTI-2, 4-D, 2 volumes, extensions
    "example4d.nii.gz",  # 4-D, 2 volumes, extensions
    "standard.nii.gz",
    "reoriented_anat_moved.nii",  # big-endian float32
    "nifti1.hdr",  # header of a pair, without its .img
    "nifti2.hdr",
]
SAMPLES = 24


def repo_root():
    d = os.path.abspath(os.getcwd())
    while not os.path.exists(os.path.join(d, "go.mod")):
        parent = os.path.dirname(d)
        if parent == d:
            sys.exit("gen_golden.py: run from inside the repository (no go.mod above the current directory)")
        d = parent
    return d


def digest(arr):
    """Statistics and samples of a 3-D array in Fortran (x fastest) order, as float64."""
    flat = np.asarray(arr, dtype=np.float64).ravel(order="F")
    n = flat.size
    idx = sorted(set(int(i) for i in np.linspace(0, n - 1, SAMPLES).round()))
    weights = (np.arange(n) % 97 + 1).astype(np.float64)
    return {
        "count": int(n),
        "sum": float(flat.sum()),
        "sumsq": float((flat * flat).sum()),
        "weighted": float((flat * weights).sum()),  # depends on voxel order
        "min": float(flat.min()),
        "max": float(flat.max()),
        "sample_index": idx,
        "sample_value": [float(flat[i]) for i in idx],
    }


def mat(a):
    return [[float(v) for v in row] for row in np.asarray(a)]


def entry(path):
    img = nib.load(path)
    hdr = img.header
    out = {
        "version": 2 if isinstance(hdr, nib.Nifti2Header) else 1,
        "big_endian": hdr.endianness == ">",
        "datatype": int(hdr["datatype"]),
        "shape": [int(s) for s in img.shape],
        "pixdim": [float(v) for v in hdr["pixdim"]],
        # nibabel moves scaling from the header to the array proxy on load (1 and 0 when there is none).
        "scl_slope": float(img.dataobj.slope),
        "scl_inter": float(img.dataobj.inter),
        "qform_code": int(hdr["qform_code"]),
        "sform_code": int(hdr["sform_code"]),
        "affine": mat(img.affine),
        "qform": mat(hdr.get_qform()),
        "sform": mat(hdr.get_sform()),
        "axcodes": list(nib.aff2axcodes(img.affine)),
        "extensions": [
            {
                "code": int(e.get_code()),
                "length": len(e.get_content()),
                "sha256": hashlib.sha256(e.get_content()).hexdigest(),
            }
            for e in hdr.extensions
        ],
    }
    base, ext = os.path.splitext(path)
    if ext == ".hdr" and not os.path.exists(base + ".img"):
        out["header_only"] = True
        return out
    vols = int(np.prod(img.shape[3:])) if len(img.shape) > 3 else 1
    out["volumes"] = vols
    # Volume 0, scaled, as float64 (all volumes of these small test files fit in memory).
    data = np.asarray(img.get_fdata(dtype=np.float64)).reshape(img.shape[:3] + (-1,), order="F")[..., 0]
    vol = nib.Nifti1Image(data, img.affine)
    out["data"] = digest(vol.get_fdata())
    can = nib.as_closest_canonical(vol)
    out["canonical"] = {
        "shape": [int(s) for s in can.shape],
        "affine": mat(can.affine),
        "axcodes": list(nib.aff2axcodes(can.affine)),
        "data": digest(can.get_fdata()),
    }
    return out


def synthetic_orientations():
    """io_orientation of affines no scanner file here exercises: random rotations (some near 45 degrees, where
    ties are broken in array-axis order), permutations with flips, anisotropic zooms and shears."""
    rng = np.random.default_rng(20260101)
    cases = []
    for k in range(40):
        q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        if k % 4 == 0:  # a rotation by about 45 degrees about one axis, plus a small perturbation
            a = np.pi / 4 + rng.normal(scale=1e-3)
            c, s = np.cos(a), np.sin(a)
            q = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])[:, rng.permutation(3)]
        zooms = rng.uniform(0.3, 5, size=3) * rng.choice([-1, 1], size=3)
        rzs = q @ np.diag(zooms)
        if k % 5 == 0:
            rzs[0, 1] += rng.normal(scale=0.3)  # shear
        aff = np.eye(4)
        aff[:3, :3] = rzs
        aff[:3, 3] = rng.normal(scale=50, size=3)
        ornt = nib.io_orientation(aff)
        cases.append({
            "affine": mat(aff),
            "ornt": [[int(v) for v in row] for row in ornt],
            "axcodes": list(nib.aff2axcodes(aff)),
        })
    return cases


def main():
    root = repo_root()
    shared = os.path.join(root, "..", "shared", "data")
    files = {}
    if os.path.isdir(shared):
        for d, _, names in sorted(os.walk(shared)):
            for name in sorted(names):
                if name.endswith((".nii", ".nii.gz")):
                    full = os.path.join(d, name)
                    files["shared/" + os.path.relpath(full, shared)] = full
    else:
        print(f"gen_golden.py: {shared} is absent; only nibabel's files are described", file=sys.stderr)
    for name in NIBABEL_FILES:
        files["nibabel/" + name] = os.path.join(NIBABEL_DATA, name)
    golden = {"nibabel_version": nib.__version__, "files": {}, "orientations": synthetic_orientations()}
    for key in sorted(files):
        golden["files"][key] = entry(files[key])
        print(key, golden["files"][key]["shape"], file=sys.stderr)
    # One line per file keeps the fixture small and its diffs readable.
    lines = [f' "nibabel_version": {json.dumps(golden["nibabel_version"])},', ' "orientations": [']
    for i, case in enumerate(golden["orientations"]):
        sep = "," if i < len(golden["orientations"]) - 1 else ""
        lines.append(f"  {json.dumps(case, sort_keys=True)}{sep}")
    lines += [" ],", ' "files": {']
    items = sorted(golden["files"].items())
    for i, (key, value) in enumerate(items):
        sep = "," if i < len(items) - 1 else ""
        lines.append(f"  {json.dumps(key)}: {json.dumps(value, sort_keys=True)}{sep}")
    with open(os.path.join("testdata", "golden.json"), "w") as f:
        f.write("{\n" + "\n".join(lines) + "\n }\n}\n")

if __name__ == "__main__":
    main()
