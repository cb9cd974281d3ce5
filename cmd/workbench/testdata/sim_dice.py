"""Dice of a `workbench simulate` curve, from its exported NIfTI files, with nibabel + numpy only, independent of
the workbench's code.

usage: sim_dice.py [--summary] OUT_DIR [OUT_DIR...]

OUT_DIR is a simulation's --out directory: curve.json names, for each round, every volume's exported segmentation
(NAME_seg.nii.gz, class indices in the source grid) and its remainder (canonical axial slices, 0 = most inferior,
with an expert label the model was not given); the expert labels are the source project's manual-only export
(truth/NAME/NAME_seg.nii.gz). Prints one line per round: labelled slices, then each class's Dice pooled over the
remainder of every volume, then their mean; and, per curve, a JSON line for scripts. --summary adds a table of
the mean Dice by number of labelled slices, one column per order (averaged over that order's seeds), and each
order's mean over the rounds after the first.
"""
import json
import os
import sys

import nibabel as nib
import numpy as np


def canonical(path):
    return np.asarray(nib.as_closest_canonical(nib.load(path)).dataobj)


def curve(out):
    with open(os.path.join(out, "curve.json")) as f:
        c = json.load(f)
    classes = c["classes"]
    truth = {v["name"]: canonical(os.path.join(out, v["truth"])).astype(np.int64) for v in c["volumes"]}
    rows = []
    for r in c["rounds"]:
        inter = np.zeros(len(classes) + 1)
        total = np.zeros(len(classes) + 1)
        for v in r["volumes"]:
            z = v["remainder"]
            if not z:
                continue
            seg = canonical(os.path.join(out, v["seg"])).astype(np.int64)
            t = truth[v["name"]]
            assert seg.shape == t.shape, f"{v['name']}: shape {seg.shape} != truth {t.shape}"
            s, t = seg[:, :, z], t[:, :, z]
            for k in range(1, len(classes) + 1):
                inter[k] += np.logical_and(s == k, t == k).sum()
                total[k] += (s == k).sum() + (t == k).sum()
        dice = [1.0 if total[k] == 0 else 2 * inter[k] / total[k] for k in range(1, len(classes) + 1)]
        rows.append({"round": r["round"], "labelled": r["labelled"], "dice": dice, "mean": float(np.mean(dice))})
    return c, rows


args = sys.argv[1:]
summary = "--summary" in args
args = [a for a in args if a != "--summary"]
table = {}  # order -> labelled -> [mean Dice per seed]
for out in args:
    c, rows = curve(out)
    for row in rows:
        table.setdefault(c["order"], {}).setdefault(row["labelled"], []).append(row["mean"])
    print(f"{out}: order {c['order']} seed {c['seed']}, classes {','.join(c['classes'])}")
    for row in rows:
        per = " ".join(f"{n} {d:.4f}" for n, d in zip(c["classes"], row["dice"]))
        print(f"  round {row['round']} labelled {row['labelled']:3d}: {per}  mean {row['mean']:.4f}")
    print(json.dumps({"out": out, "order": c["order"], "seed": c["seed"], "rounds": rows}))

if summary:
    orders = sorted(table)
    counts = sorted({n for o in orders for n in table[o]})
    print("labelled  " + "  ".join(f"{o:>22}" for o in orders))
    for n in counts:
        cells = []
        for o in orders:
            v = table[o].get(n, [])
            cells.append(f"{np.mean(v):.4f} ({' '.join(f'{x:.3f}' for x in v)})" if v else "-")
        print(f"{n:8d}  " + "  ".join(f"{c:>22}" for c in cells))
    # The first round is the same for every order (same start, same seed): the curves' mean after it.
    after = [f"{np.mean([np.mean(table[o][n]) for n in counts[1:] if n in table[o]]):.4f}" for o in orders]
    print("mean after the first round: " + "  ".join(f"{o} {a}" for o, a in zip(orders, after)))
