"""PyTorch's side of `make bench` (run from ml/: /usr/bin/python3 testdata/bench_torch.py [iterations]).

Times what BenchmarkSmallUNetTrainStep(80) and BenchmarkSmallUNetInfer time in Go: SmallUNet with
3 output channels, a training iteration (forward, paper Dice, backward, Adam) on a batch of 11
160x160 (and 80x80) slices, and evaluation-mode inference of one 160x160 slice; on 2 threads. Prints seconds per
iteration, the training iteration's GFLOP/s (same convolution FLOP count as the Go benchmark)
and the process's peak resident memory."""
import math
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_smallunet as ref  # noqa: E402

ITERS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
N, H, W, C = 11, 160, 160, 3
torch.set_num_threads(2)
torch.manual_seed(1)


def synthetic(n, h, w, seed):
    """The same deterministic batch as syntheticBatch in ml/bench_test.go."""
    img = np.zeros((n, 1, h, w), dtype=np.float32)
    mask = np.zeros((n, h, w), dtype=np.int64)
    yy, xx = np.mgrid[0:h, 0:w]
    for s in range(n):
        cx = w / 2 + w / 8 * math.sin(seed + s)
        cy = h / 2 + h / 8 * math.cos(1.3 * seed + s)
        r = min(h, w) / 4
        d = np.hypot(xx - cx, yy - cy)
        i = (s * h + yy) * w + xx
        noise = 0.3 * np.sin(i * 12.9898 + seed)
        v = -0.5 + noise
        v = np.where(d < r, 1.5 + noise, v)
        v = np.where(d < r / 2, 0.5 + noise, v)
        img[s, 0] = v
        mask[s] = np.where(d < r / 2, 2, np.where(d < r, 1, 0))
    return torch.from_numpy(img), torch.from_numpy(mask)


def train_flop(n, h, w, classes):
    convs = [(1, 32, 1), (32, 32, 1), (32, 64, 2), (64, 64, 2), (64, 128, 4), (128, 128, 4), (128, 128, 8),
             (128, 128, 8), (256, 128, 4), (128, 128, 4), (192, 64, 2), (64, 64, 2), (96, 32, 1), (32, 32, 1),
             (32, classes, 1)]
    total = 0.0
    for i, (cin, cout, div) in enumerate(convs):
        f = 2 * 9 * cin * cout * n * h * w / div / div
        total += 2 * f + (f if i > 0 else 0)
    return total


net = ref.SmallUNet(C, drop_rate=0.3)
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
x, mask = synthetic(N, H, W, 1.0)
onehot = F.one_hot(mask, C).permute(0, 3, 1, 2).float()


def step():
    opt.zero_grad()
    loss = ref.paper_dice(net(x), onehot)
    loss.backward()
    opt.step()
    return float(loss)


def time_steps(iters):
    step()  # warm-up: allocations and oneDNN primitive creation
    t0 = time.perf_counter()
    for _ in range(iters):
        step()
    return (time.perf_counter() - t0) / iters


net.train()
train_s = time_steps(ITERS)
peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
x, mask = synthetic(N, 80, 80, 1.0)
onehot = F.one_hot(mask, C).permute(0, 3, 1, 2).float()
train80_s = time_steps(ITERS * 3)

net.eval()
x1, _ = synthetic(1, H, W, 2.0)
with torch.no_grad():
    net(x1)
    reps = max(ITERS * 5, 10)
    t0 = time.perf_counter()
    for _ in range(reps):
        net(x1)
    infer_s = (time.perf_counter() - t0) / reps

print(f"torch {torch.__version__} threads {torch.get_num_threads()}")
print(f"torch SmallUNetTrainStep  {train_s:.3f} s/iter  {train_flop(N, H, W, C) / train_s / 1e9:.1f} GFLOP/s  "
      f"peak {peak_mib:.0f} MiB (after training)")
print(f"torch SmallUNetTrainStep80 {train80_s:.3f} s/iter  {train_flop(N, 80, 80, C) / train80_s / 1e9:.1f} GFLOP/s")
print(f"torch SmallUNetInfer      {infer_s:.4f} s/op")
