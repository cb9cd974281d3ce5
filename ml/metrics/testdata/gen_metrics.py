"""Golden metrics for ml/metrics, computed independently with numpy and scipy on small committed fixtures.

Run from ml/metrics: /usr/bin/python3 testdata/gen_metrics.py  (writes testdata/metrics.json)

Definitions (the package documentation states the same rules):
- surface = mask AND NOT binary_erosion(mask) (cross structure, outside of the image = background);
- distances from one surface to the other via distance_transform_edt with the pixel spacing; the Hausdorff
  distance is checked against scipy.spatial.distance.directed_hausdorff on the surface point coordinates;
- mean surface distance = mean over the points of both surfaces of the distance to the other surface;
- 0/0 ratios: 1 if both masks are empty, else 0; specificity without negatives: 1; conformity at Dice 0: -inf;
- distances: 0 if both masks are empty, +inf if exactly one is;
- pooled over slices: confusion counts summed; distances over the slices where both masks are non-empty
  (Hausdorff = max, mean = over all their surface points); +inf if no such slice but one with one mask empty.
Infinite values are written as null (JSON has no infinity).
"""
import json
import math

import numpy as np
from scipy.ndimage import binary_erosion, distance_transform_edt, generate_binary_structure, gaussian_filter
from scipy.spatial.distance import directed_hausdorff


def ellipse(h, w, cx, cy, rx, ry):
    y, x = np.mgrid[0:h, 0:w]
    return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1


def nested(h, w, cx, cy, rx, ry):
    m = np.zeros((h, w), np.uint8)
    m[ellipse(h, w, cx, cy, rx, ry)] = 1
    m[ellipse(h, w, cx, cy, 0.5 * rx, 0.45 * ry)] = 2
    return m


def blobs(rng, h, w):
    f = gaussian_filter(rng.standard_normal((h, w)), 1.5)
    m = np.zeros((h, w), np.uint8)
    m[f > 0.08] = 1
    m[f > 0.25] = 2
    return m


def surface(m):
    return m & ~binary_erosion(m, structure=generate_binary_structure(2, 1), border_value=0)


def ratio(num, den, both_empty):
    if den == 0:
        return 1.0 if both_empty else 0.0
    return num / den


def slice_tally(p, t, spacing):
    tp = int(np.sum(p & t)); fp = int(np.sum(p & ~t)); fn = int(np.sum(~p & t)); tn = int(np.sum(~p & ~t))
    tal = {"conf": (tp, fp, fn, tn), "hd_px": 0.0, "hd_mm": 0.0, "sum_px": 0.0, "sum_mm": 0.0, "points": 0,
           "slices": 1, "one_empty": 0, "both": 0}
    pe, te = not p.any(), not t.any()
    if pe and te:
        return tal
    if pe or te:
        tal["one_empty"] = 1
        return tal
    tal["both"] = 1
    sp, st = surface(p), surface(t)
    for unit, (sx, sy) in (("px", (1.0, 1.0)), ("mm", spacing)):
        sampling = (sy, sx)  # array axes are (y, x)
        d_pt = distance_transform_edt(~st, sampling=sampling)[sp]
        d_tp = distance_transform_edt(~sp, sampling=sampling)[st]
        hd = max(d_pt.max(), d_tp.max())
        a, b = np.argwhere(sp) * np.array(sampling), np.argwhere(st) * np.array(sampling)
        hd_check = max(directed_hausdorff(a, b)[0], directed_hausdorff(b, a)[0])
        assert abs(hd - hd_check) < 1e-9, (hd, hd_check)
        tal["hd_" + unit] = float(hd)
        tal["sum_" + unit] = float(d_pt.sum() + d_tp.sum())
    tal["points"] = int(sp.sum() + st.sum())
    return tal


def pool(tallies):
    out = {"conf": (0, 0, 0, 0), "hd_px": 0.0, "hd_mm": 0.0, "sum_px": 0.0, "sum_mm": 0.0, "points": 0,
           "slices": 0, "one_empty": 0, "both": 0}
    for t in tallies:
        out["conf"] = tuple(a + b for a, b in zip(out["conf"], t["conf"]))
        for k in ("hd_px", "hd_mm"):
            out[k] = max(out[k], t[k])
        for k in ("sum_px", "sum_mm", "points", "slices", "one_empty", "both"):
            out[k] += t[k]
    return out


def result(tal, cls):
    tp, fp, fn, tn = tal["conf"]
    both_empty = tp + fp + fn == 0
    dice = ratio(2 * tp, 2 * tp + fp + fn, both_empty)
    r = {"class": cls, "confusion": {"tp": tp, "fp": fp, "fn": fn, "tn": tn},
         "dice": dice, "jaccard": ratio(tp, tp + fp + fn, both_empty),
         "precision": ratio(tp, tp + fp, both_empty), "recall": ratio(tp, tp + fn, both_empty),
         "specificity": 1.0 if tn + fp == 0 else tn / (tn + fp),
         "conformity": -math.inf if dice == 0 else (3 * dice - 2) / dice * 100,
         "slices": tal["slices"], "slicesOneEmpty": tal["one_empty"]}
    if tal["both"] > 0:
        d = {"hausdorffPx": tal["hd_px"], "hausdorffMm": tal["hd_mm"],
             "meanSurfacePx": tal["sum_px"] / tal["points"], "meanSurfaceMm": tal["sum_mm"] / tal["points"]}
    elif tal["one_empty"] > 0:
        d = dict.fromkeys(("hausdorffPx", "hausdorffMm", "meanSurfacePx", "meanSurfaceMm"), math.inf)
    else:
        d = dict.fromkeys(("hausdorffPx", "hausdorffMm", "meanSurfacePx", "meanSurfaceMm"), 0.0)
    r.update(d)
    return {k: (None if isinstance(v, float) and math.isinf(v) else v) for k, v in r.items()}


def rows(m):
    return ["".join(str(int(v)) for v in row) for row in m]


rng = np.random.default_rng(20191)
cases = []


def add_case(name, classes, slices):
    """slices: list of (pred, truth, (spacing_x, spacing_y)) with maps of shape (h, w)."""
    per_slice, tallies = [], {c: [] for c in classes}
    for pred, truth, spacing in slices:
        metrics = []
        for c in classes:
            t = slice_tally(pred == c, truth == c, spacing)
            tallies[c].append(t)
            metrics.append(result(t, c))
        per_slice.append({"w": pred.shape[1], "h": pred.shape[0], "spacing": list(spacing),
                          "pred": rows(pred), "truth": rows(truth), "metrics": metrics})
    cases.append({"name": name, "classes": classes, "slices": per_slice,
                  "pooled": [result(pool(tallies[c]), c) for c in classes]})


h, w = 20, 24
add_case("nested ellipses, anisotropic", [1, 2], [
    (nested(h, w, 11.2, 9.5, 8.5, 6.0), nested(h, w, 12.0, 9.0, 8.0, 6.5), (0.5, 1.25)),
    (nested(h, w, 10.0, 10.0, 5.0, 7.0), nested(h, w, 11.0, 9.5, 6.0, 6.0), (0.5, 1.25)),
])
z = np.zeros((8, 10), np.uint8)
one = z.copy(); one[2:5, 3:8] = 1
add_case("empty masks", [0, 1, 2], [
    (z, z, (1.0, 1.0)),
    (z, one, (1.0, 1.0)),
    (one, z, (1.0, 1.0)),
])
edge = np.zeros((12, 9), np.uint8); edge[:, :4] = 1; edge[0:3, :] = 2
edge2 = np.zeros((12, 9), np.uint8); edge2[:, :5] = 1; edge2[0:2, 2:] = 2; edge2[11, 8] = 2
add_case("touching the border", [1, 2], [(edge, edge2, (0.7, 0.3))])
add_case("random blobs, mixed spacing", [0, 1, 2], [
    (blobs(rng, 16, 18), blobs(rng, 16, 18), (0.78125, 0.78125)),
    (blobs(rng, 16, 18), blobs(rng, 16, 18), (1.0, 3.0)),
    (blobs(rng, 16, 18), np.zeros((16, 18), np.uint8), (1.0, 3.0)),
])
full = np.ones((5, 6), np.uint8)
add_case("everything foreground", [1], [(full, full, (2.0, 1.0))])

with open("testdata/metrics.json", "w") as f:
    json.dump(cases, f, indent=1, allow_nan=False)
