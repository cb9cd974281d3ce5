"""Golden agreement and consensus numbers for internal/agreement, computed independently with numpy and scipy.

Run from internal/agreement: /usr/bin/python3 testdata/gen_golden.py  (writes testdata/golden.json; `make golden`
runs every testdata/gen_*.py). Needs the real data beside the repository (../shared/data) for the real case.

Cases: synthetic blobs with noise (3 raters, 64x48, 2 classes, anisotropic spacing, fixed seed); a small edge case
(a class one rater lacks, a class no rater uses); and one real slice, the manual cord and grey-matter masks of
gm-challenge sub-9709Ses1 (class 1 = white matter = cord minus GM, class 2 = GM), cropped to the cord, with two
perturbed copies (one eroded and shifted, one dilated) as the other raters.

Definitions (the package documentation states the same rules):
- Dice = 2|A&B| / (|A|+|B|), 1 if both empty; areas = pixel count * dx * dy.
- Hausdorff: symmetric, between the foreground pixel sets, pixel centres at (x*dx, y*dy), by
  scipy.spatial.distance.directed_hausdorff; HD95 = np.percentile (linear) of the pooled nearest-neighbour distances
  of every pixel of A to B and of B to A, by scipy.spatial.cKDTree (cross-checked against
  scipy.ndimage.distance_transform_edt with sampling). Both 0 if both sets are empty, null if exactly one is.
- Majority vote: np.argmax over the per-label vote counts, whose first maximum is the lowest label (ties: background
  wins, then the lower class).
- STAPLE (Warfield, Zou, Wells 2004, multi-category), written per pixel from the paper: theta[j, said, true],
  initial 0.99 on the diagonal and the rest spread evenly; priors fixed at the pooled label frequencies; E-step
  W(s) ~ prior(s) prod_j theta[j, D_j, s] (all zero: the priors); M-step theta[j, s', s] = sum_{D_j = s'} W(s) /
  sum W(s) (a label without posterior mass keeps its column); stop when max |delta theta| < tolerance or at the
  iteration limit. Consensus = argmax W (lowest label on ties); sensitivity and specificity per read and label are
  posterior-weighted, 0/0 = 1.
Reads and label maps are written as strings of digits, x fastest (pixel (x, y) at x + y*w).
"""
import glob
import json
import os

import nibabel as nib
import numpy as np
from scipy.ndimage import binary_dilation, binary_erosion, distance_transform_edt, gaussian_filter, shift
from scipy.spatial import cKDTree
from scipy.spatial.distance import directed_hausdorff

MAX_ITER = 100
TOLERANCE = 1e-7


def digits(m):
    return "".join(str(int(v)) for v in m.ravel())


def points(mask, dx, dy):
    ys, xs = np.nonzero(mask)
    return np.column_stack([xs * dx, ys * dy])


def compare(a, b, classes, dx, dy):
    out = []
    for c in range(1, classes + 1):
        ma, mb = a == c, b == c
        na, nb = int(ma.sum()), int(mb.sum())
        rec = {"class": c, "areaAMm2": na * dx * dy, "areaBMm2": nb * dx * dy, "areaDiffMm2": (na - nb) * dx * dy}
        if na == 0 and nb == 0:
            rec.update(dice=1.0, hausdorffMm=0.0, hd95Mm=0.0)
        elif na == 0 or nb == 0:
            rec.update(dice=0.0, hausdorffMm=None, hd95Mm=None)
        else:
            rec["dice"] = 2.0 * int((ma & mb).sum()) / (na + nb)
            pa, pb = points(ma, dx, dy), points(mb, dx, dy)
            hd = max(directed_hausdorff(pa, pb)[0], directed_hausdorff(pb, pa)[0])
            da, _ = cKDTree(pb).query(pa)
            db, _ = cKDTree(pa).query(pb)
            # The same distances by an exact EDT with anisotropic sampling (rows are y).
            ea = distance_transform_edt(~mb, sampling=(dy, dx))[ma]
            eb = distance_transform_edt(~ma, sampling=(dy, dx))[mb]
            assert np.allclose(np.sort(da), np.sort(ea), atol=1e-9) and np.allclose(np.sort(db), np.sort(eb), atol=1e-9)
            pooled = np.concatenate([da, db])
            assert abs(pooled.max() - hd) < 1e-9
            rec.update(hausdorffMm=float(hd), hd95Mm=float(np.percentile(pooled, 95)))
        out.append(rec)
    return out


def majority(reads, classes):
    counts = np.stack([(np.stack(reads) == s).sum(0) for s in range(classes + 1)])
    return np.argmax(counts, axis=0).astype(np.uint8)


def staple(reads, classes):
    labels = classes + 1
    d = np.stack([r.ravel() for r in reads]).astype(np.int64)  # (raters, pixels)
    nr, n = d.shape
    prior = np.bincount(d.ravel(), minlength=labels) / (nr * n)
    theta = np.full((nr, labels, labels), (1 - 0.99) / (labels - 1))
    for j in range(nr):
        np.fill_diagonal(theta[j], 0.99)
    converged = False
    it = 0
    while it < MAX_ITER:
        it += 1
        w = np.tile(prior, (n, 1))
        for j in range(nr):
            w *= theta[j][d[j], :]
        s = w.sum(1)
        zero = s == 0
        w[zero] = prior
        s[zero] = 1
        w /= s[:, None]
        mass = w.sum(0)
        new = np.empty_like(theta)
        for j in range(nr):
            for said in range(labels):
                new[j, said, :] = w[d[j] == said].sum(0)
            for t in range(labels):
                if mass[t] == 0:
                    new[j, :, t] = theta[j, :, t]
                else:
                    new[j, :, t] /= mass[t]
        delta = np.abs(new - theta).max()
        theta = new
        if delta < TOLERANCE:
            converged = True
            break
    sens = np.zeros((nr, labels))
    spec = np.zeros((nr, labels))
    for j in range(nr):
        for c in range(labels):
            pos = w[:, c].sum()
            other = np.delete(w, c, axis=1).sum(1)
            sens[j, c] = w[d[j] == c, c].sum() / pos if pos > 0 else 1.0
            neg = other.sum()
            spec[j, c] = other[d[j] != c].sum() / neg if neg > 0 else 1.0
    consensus = np.argmax(w, axis=1).astype(np.uint8)
    top2 = np.sort(w, axis=1)[:, -2:]
    assert (top2[:, 1] - top2[:, 0] > 1e-6).all(), "a near tie in the STAPLE posteriors: pick other inputs"
    return {"consensus": digits(consensus), "probability": [[round(float(v), 6) for v in w[:, s]] for s in range(labels)],
            "sensitivity": sens.tolist(), "specificity": spec.tolist(), "iterations": it, "converged": converged}


def case(name, reads, classes, dx, dy):
    h, w = reads[0].shape
    pairs = [{"a": i, "b": j, "classes": compare(reads[i], reads[j], classes, dx, dy)}
             for i in range(len(reads)) for j in range(i + 1, len(reads))]
    return {"name": name, "w": w, "h": h, "dx": dx, "dy": dy, "classes": classes,
            "reads": [digits(r) for r in reads], "pairs": pairs, "majority": digits(majority(reads, classes)),
            "staple": staple(reads, classes)}


def blobs_case():
    rng = np.random.default_rng(20261203)
    h, w = 48, 64
    f = gaussian_filter(rng.standard_normal((h, w)), 3.0)
    f /= f.std()
    truth = np.zeros((h, w), np.uint8)
    truth[f > 0.3] = 1
    truth[f > 1.2] = 2
    reads = []
    for k in range(3):
        # Each rater: its own smooth noise and a bias (one draws tight, one wide), then 2% random labels.
        g = f + 0.35 * gaussian_filter(rng.standard_normal((h, w)), 1.0) + 0.15 * (k - 1)
        r = np.zeros((h, w), np.uint8)
        r[g > 0.3] = 1
        r[g > 1.2] = 2
        flips = rng.random((h, w)) < 0.02
        r[flips] = rng.integers(0, 3, size=int(flips.sum()))
        reads.append(r)
    return case("blobs 64x48, 3 raters, 2 classes", reads, 2, 0.6, 0.9)


def edge_case():
    h, w = 16, 20
    a = np.zeros((h, w), np.uint8)
    a[2:9, 3:11] = 1
    a[10:14, 12:18] = 2
    b = a.copy()
    b[2:9, 11] = 1
    b[10:14, 12:18] = 0  # b lacks class 2
    c = a.copy()
    c[3:10, 4:12] = 1
    c[0, 19] = 2  # a lone far pixel
    return case("edge 20x16: class 2 missing in one read, class 3 in none", [a, b, c], 3, 1.25, 0.5)


def real_case():
    base = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "data", "gm-challenge-data",
                        "derivatives", "labels", "sub-9709Ses1", "anat")
    gm_files = glob.glob(os.path.join(base, "*gmseg-manual.nii.gz"))
    cord_files = glob.glob(os.path.join(base, "*_seg-manual.nii.gz"))
    if len(gm_files) != 1 or len(cord_files) != 1:
        raise SystemExit(f"gen_golden.py: want one grey-matter and one cord mask in {os.path.normpath(base)} "
                         "(the real data beside the repository)")
    gm_file, cord_file = gm_files[0], cord_files[0]
    z = 10
    gm_img = nib.load(gm_file)
    dx, dy = (float(v) for v in gm_img.header.get_zooms()[:2])
    gm = np.asanyarray(gm_img.dataobj)[:, :, z].T > 0.5  # (y, x)
    cord = np.asanyarray(nib.load(cord_file).dataobj)[:, :, z].T > 0.5
    ys, xs = np.nonzero(cord)
    m = 4
    sl = (slice(ys.min() - m, ys.max() + m + 1), slice(xs.min() - m, xs.max() + m + 1))
    gm, cord = gm[sl], cord[sl]

    def label(cord, gm):
        r = np.zeros(cord.shape, np.uint8)
        r[cord] = 1
        r[gm & cord] = 2
        return r

    manual = label(cord, gm)
    # The grey matter is two or three pixels thick, so the second rater shifts it rather than eroding it.
    shifted = label(binary_erosion(shift(cord, (0, 1), order=0)), shift(gm, (1, 0), order=0))
    dilated = label(binary_dilation(cord), binary_dilation(gm))
    return case(f"gm-challenge sub-9709Ses1 slice {z}: manual, eroded+shifted, dilated", [manual, shifted, dilated],
                2, dx, dy)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    fixture = {"maxIterations": MAX_ITER, "tolerance": TOLERANCE, "cases": [blobs_case(), edge_case(), real_case()]}
    path = os.path.join(here, "golden.json")
    with open(path, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {path}: {os.path.getsize(path)} bytes")
    for c in fixture["cases"]:
        print(c["name"], c["w"], "x", c["h"], "iterations", c["staple"]["iterations"],
              [(p["a"], p["b"], [(q["dice"], q["hausdorffMm"], q["hd95Mm"]) for q in p["classes"]]) for p in c["pairs"]])


main()
