"""Golden values for the elastic field's Gaussian smoothing: scipy.ndimage.gaussian_filter with its defaults
(mode="reflect", truncate=4.0) on small deterministic fields. Run from ml/data: /usr/bin/python3 testdata/gen_gaussian.py"""
import json

import numpy as np
from scipy.ndimage import gaussian_filter

cases = []
for w, h, sigma in [(23, 17, 1.7), (24, 20, 4.5), (9, 7, 3.0)]:
    y, x = np.mgrid[0:h, 0:w]
    field = np.sin(0.7 * x + 0.3 * y) + np.cos(1.3 * y - 0.2 * x * x / w)
    out = gaussian_filter(field, sigma)  # array rows are y, columns x: x fastest when flattened
    cases.append({"w": w, "h": h, "sigma": sigma, "input": [float("%.12g" % v) for v in field.ravel()],
                  "output": [float("%.12g" % v) for v in out.ravel()]})

with open("testdata/gaussian.json", "w") as f:
    json.dump(cases, f)
