"""Golden drafts for internal/interp, computed independently with numpy and scipy on small generated inputs.

Run from internal/interp: /usr/bin/python3 testdata/gen_golden.py  (writes testdata/golden.json)

The same definition as the package documentation, written from it and not from the Go code:
- signed distance of class k on a slice = distance_transform_edt(not k, sampling) - distance_transform_edt(k,
  sampling), in mm, with sampling = (spacing y, spacing x) for the (height, width) array: positive outside
  (distance to the nearest voxel of k), negative inside (minus the distance to the nearest voxel not k);
- for consecutive labelled slices z0 < z1 and each class present on both, at z0 < z < z1 with
  t = (z - z0) / (z1 - z0): d = (1 - t) * d(z0) + t * d(z1);
- the union of the gap's classes is interpolated the same way as one more shape: a voxel is background where
  its d is not negative, and inside it takes the class with the lowest d (ties: the lower class);
- "class" limits the drafts to that class, "from"/"to" to those slices (the labelled ones still bound gaps);
- "align": every distance map of z0 (z1) is first moved by c - c0 (c - c1), c0 and c1 the centres of mass of the
  union of the gap's classes on z0 and z1 and c = (1 - t) * c0 + t * c1, with scipy.ndimage.shift(order=1,
  mode="nearest").
Voxels whose outcome hangs on rounding are listed per draft under "ambiguous": the union's d within 1e-6 of 0,
or inside the union the two lowest classes within 1e-6 of each other. Masks are flat, x fastest (index x + y*width).
"""
import json

import numpy as np
from scipy.ndimage import center_of_mass, distance_transform_edt, gaussian_filter, shift

EPS = 1e-6


def signed_distance(inside, sampling):
    return distance_transform_edt(~inside, sampling=sampling) - distance_transform_edt(inside, sampling=sampling)


def interpolate(case):
    w, h = case["width"], case["height"]
    sampling = (case["spacing"][1], case["spacing"][0])
    labelled = {int(z): np.array(m, np.uint8).reshape(h, w) for z, m in case["labelled"].items()}
    zs = sorted(labelled)
    only = case["class"]
    lo = case["from"] if case["from"] is not None else -1
    hi = case["to"] if case["to"] is not None else 1 << 30
    drafts, ambiguous = {}, {}
    for z0, z1 in zip(zs, zs[1:]):
        a, b = labelled[z0], labelled[z1]
        classes = [k for k in range(1, case["classes"] + 1)
                   if (only == 0 or only == k) and (a == k).any() and (b == k).any()]
        union = [signed_distance(np.isin(a, classes), sampling), signed_distance(np.isin(b, classes), sampling)]
        before = [signed_distance(a == k, sampling) for k in classes]
        after = [signed_distance(b == k, sampling) for k in classes]
        labels = np.array(classes, np.uint8)
        for z in range(z0 + 1, z1):
            if not lo <= z <= hi:
                continue
            t = (z - z0) / (z1 - z0)
            out = np.zeros((h, w), np.uint8)
            unsure = np.zeros((h, w), bool)
            if classes:
                u0, u1, ps, qs = union[0], union[1], before, after
                if case["align"]:
                    c0 = np.array(center_of_mass(np.isin(a, classes)))
                    c1 = np.array(center_of_mass(np.isin(b, classes)))
                    c = (1 - t) * c0 + t * c1

                    def move(m, by):
                        return shift(m, by, order=1, mode="nearest")
                    u0, u1 = move(u0, c - c0), move(u1, c - c1)
                    ps, qs = [move(p, c - c0) for p in ps], [move(q, c - c1) for q in qs]
                u = (1 - t) * u0 + t * u1
                d = np.stack([(1 - t) * p + t * q for p, q in zip(ps, qs)])
                inside = u < 0
                out[inside] = labels[np.argmin(d, axis=0)][inside]
                unsure = np.abs(u) < EPS
                if len(classes) > 1:
                    two = np.sort(d, axis=0)[:2]
                    unsure |= inside & (two[1] - two[0] < EPS)
            drafts[str(z)] = out.ravel().tolist()
            ambiguous[str(z)] = np.flatnonzero(unsure.ravel()).tolist()
    return drafts, ambiguous


def blobs(rng, h, w, levels, sigma):
    f = gaussian_filter(rng.standard_normal((h, w)), sigma)
    f = (f - f.mean()) / f.std()
    m = np.zeros((h, w), np.uint8)
    for k, level in enumerate(levels, start=1):
        m[f > level] = k
    return m


def ellipse(h, w, cx, cy, rx, ry, value, m=None):
    if m is None:
        m = np.zeros((h, w), np.uint8)
    y, x = np.mgrid[0:h, 0:w]
    m[((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1] = value
    return m


def case(name, w, h, depth, spacing, classes, labelled, only=0, lo=None, hi=None, align=False):
    c = {"name": name, "width": w, "height": h, "depth": depth, "spacing": list(spacing), "classes": classes,
         "class": only, "from": lo, "to": hi, "align": align,
         "labelled": {str(z): m.ravel().tolist() for z, m in labelled.items()}}
    c["drafts"], c["ambiguous"] = interpolate(c)
    return c


def main():
    rng = np.random.default_rng(12)
    w, h = 28, 22
    # Three classes of random blobs; class 3 is missing from slice 5, so the gaps around it leave it out.
    s0 = blobs(rng, h, w, [-0.3, 0.5, 1.2], 2.5)
    s5 = blobs(rng, h, w, [-0.2, 0.6], 2.5)
    s11 = blobs(rng, h, w, [-0.4, 0.4, 1.0], 2.5)
    blob_slices = {0: s0, 5: s5, 11: s11}
    # Nested ellipses growing and moving: an outer class holding an inner one (cord and grey matter).
    nested = {}
    for z, (cx, cy, rx, ry) in {0: (14, 11, 6, 5), 6: (17, 12, 10, 7), 9: (16, 10, 8, 8)}.items():
        m = ellipse(h, w, cx, cy, rx, ry, 1)
        nested[z] = ellipse(h, w, cx + 1, cy, rx / 2, ry / 2.5, 2, m)
    # Small nested ellipses travelling far across a wider slice, one touching its edge.
    W, H = 48, 30
    travel = {}
    for z, (cx, cy, rx, ry) in {0: (7, 8, 5, 4), 5: (30, 18, 6, 5), 7: (42, 24, 5, 5.5)}.items():
        m = ellipse(H, W, cx, cy, rx, ry, 1)
        travel[z] = ellipse(H, W, cx - 1, cy, rx / 2, ry / 2.2, 2, m)
    cases = [
        case("blobs, anisotropic", w, h, 12, (0.7, 1.2), 3, blob_slices),
        case("blobs, class 2 only, slices 3..8", w, h, 12, (0.7, 1.2), 3, blob_slices, only=2, lo=3, hi=8),
        case("nested ellipses", w, h, 10, (0.5, 0.5), 2, nested),
        case("nested ellipses, 1x0.6 mm", w, h, 10, (1.0, 0.6), 2, nested),
        case("nested ellipses, aligned", w, h, 10, (1.0, 0.6), 2, nested, align=True),
        case("blobs, aligned", w, h, 12, (0.7, 1.2), 3, blob_slices, align=True),
        case("travelling ellipses, aligned", W, H, 8, (0.6, 0.9), 2, travel, align=True),
    ]
    with open("testdata/golden.json", "w") as f:
        json.dump({"cases": cases}, f, separators=(",", ":"))
        f.write("\n")
    for c in cases:
        n = sum(len(v) for v in c["ambiguous"].values())
        print(f'{c["name"]}: {len(c["drafts"])} drafts, {n} ambiguous voxels')


if __name__ == "__main__":
    main()
