"""Dice of a `workbench simulate` curve, from its exported NIfTI files, with nibabel + numpy only, independent of
the workbench's code.

usage: sim_dice.py [--summary] OUT_DIR [OUT_DIR...]

OUT_DIR is a simulation's --out directory: curve.json names, for each round, every volume's exported segmentation
(NAME_seg.nii.gz, class indices in the source grid) and its remainder (canonical axial slices, 0 = most inferior,
with an expert label the model was not given); the expert labels are the source project's manual-only export
(truth/NAME/NAME_seg.nii.gz). Prints one line per round: labelled slices, then each class's Dice pooled over the
remainder of every volume, then their mean, then the mean Dice over every expert slice of the dataset (the export
holds the labels given so far and the predictions elsewhere: what the user has after that much labelling; unlike
the remainder, the same slices for every order, so an order that labels the hardest slices is not flattered by
leaving only easy ones); and, per curve, a JSON line for scripts. --summary adds a table of
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


class Pooled:
    """Per-class intersections and sizes pooled over chosen axial slices of several volumes."""

    def __init__(self, k):
        self.k, self.inter, self.total = k, np.zeros(k + 1), np.zeros(k + 1)

    def add(self, seg, truth, slices):
        if not slices:
            return
        s, t = seg[:, :, slices], truth[:, :, slices]
        for k in range(1, self.k + 1):
            self.inter[k] += np.logical_and(s == k, t == k).sum()
            self.total[k] += (s == k).sum() + (t == k).sum()

    def dice(self):
        return [1.0 if self.total[k] == 0 else 2 * self.inter[k] / self.total[k] for k in range(1, self.k + 1)]


def curve(out):
    with open(os.path.join(out, "curve.json")) as f:
        c = json.load(f)
    classes = c["classes"]
    truth = {v["name"]: canonical(os.path.join(out, v["truth"])).astype(np.int64) for v in c["volumes"]}
    # Curves written before the workbench listed the expert slices had every slice of each volume labelled.
    expert = {v["name"]: v.get("expert") for v in c["volumes"]}
    rows = []
    for r in c["rounds"]:
        remainder, dataset = Pooled(len(classes)), Pooled(len(classes))
        for v in r["volumes"]:
            seg = canonical(os.path.join(out, v["seg"])).astype(np.int64)
            t = truth[v["name"]]
            assert seg.shape == t.shape, f"{v['name']}: shape {seg.shape} != truth {t.shape}"
            remainder.add(seg, t, v["remainder"])
            dataset.add(seg, t, expert.get(v["name"]) or list(range(t.shape[2])))
        dice = remainder.dice()
        rows.append({"round": r["round"], "labelled": r["labelled"], "dice": dice, "mean": float(np.mean(dice)),
                     "dataset": float(np.mean(dataset.dice()))})
    return c, rows


args = sys.argv[1:]
summary = "--summary" in args
args = [a for a in args if a != "--summary"]
table = {}  # order -> labelled -> [mean Dice per seed]
for out in args:
    c, rows = curve(out)
    for row in rows:
        table.setdefault(c["order"], {}).setdefault(row["labelled"], []).append((row["mean"], row["dataset"]))
    print(f"{out}: order {c['order']} seed {c['seed']}, classes {','.join(c['classes'])}")
    for row in rows:
        per = " ".join(f"{n} {d:.4f}" for n, d in zip(c["classes"], row["dice"]))
        print(f"  round {row['round']} labelled {row['labelled']:3d}: {per}  mean {row['mean']:.4f}"
              f"  dataset {row['dataset']:.4f}")
    print(json.dumps({"out": out, "order": c["order"], "seed": c["seed"], "rounds": rows}))

if summary:
    orders = sorted(table)
    counts = sorted({n for o in orders for n in table[o]})
    for which, name in ((0, "remainder"), (1, "dataset")):
        print(f"mean Dice on the {name}, by labelled slices (each seed's in brackets)")
        print("labelled  " + "  ".join(f"{o:>26}" for o in orders))
        for n in counts:
            cells = []
            for o in orders:
                v = [x[which] for x in table[o].get(n, [])]
                cells.append(f"{np.mean(v):.4f} ({' '.join(f'{x:.3f}' for x in v)})" if v else "-")
            print(f"{n:8d}  " + "  ".join(f"{c:>26}" for c in cells))
        # The first round is the same for every order at one seed: the curves' mean after it.
        after = [np.mean([np.mean([x[which] for x in table[o][n]]) for n in counts[1:] if n in table[o]]) for o in orders]
        print("mean after the first round: " + "  ".join(f"{o} {a:.4f}" for o, a in zip(orders, after)))
