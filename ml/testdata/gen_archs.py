"""Golden fixtures from PyTorch for UNet, SegNet and NoPoolASPP, plus max pooling with indices,
max unpooling and global average pooling (run from ml/: /usr/bin/python3 testdata/gen_archs.py).

Writes testdata/golden_archs.json. Networks use det_values() weights, which the Go tests
recompute: at the paper's widths the evaluation- and training-mode probabilities of a
2 x 1 x 32 x 32 batch; at width 8 the paper-Dice loss and a strided sample of every
parameter's gradient after one forward-backward pass in training mode (no dropout)."""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_archs  # noqa: E402
import torch_smallunet as ref  # noqa: E402

torch.manual_seed(0)
torch.set_num_threads(2)
rng = np.random.default_rng(4321)
out = {}


def t(shape, scale=1.0):
    return torch.from_numpy((rng.standard_normal(shape) * scale).astype(np.float32))


def flat(x):
    # Eight significant digits hold a float32 to well within the tests' tolerances.
    return [float(f"{v:.8g}") for v in x.detach().numpy().astype(np.float32).ravel()]


def sampled(v):
    f = v.detach().numpy().ravel()
    return [float(f"{a:.8g}") for a in f[:: max(1, f.size // 64)]]


def head(z):
    return torch.sigmoid(z) if z.shape[1] == 1 else F.softmax(z, dim=1)


# Max pooling with indices, max unpooling and global average pooling with broadcast.
x = t((2, 3, 6, 8)).requires_grad_()
y, idx = F.max_pool2d(x, 2, return_indices=True)
u = t(tuple(y.shape)).requires_grad_()
un = F.max_unpool2d(u, idx, 2, output_size=x.shape[2:])
r = t(tuple(un.shape))
(un * r).sum().backward()
out["unpool"] = dict(shape=list(x.shape), x=flat(x), indices=[int(i) for i in idx.numpy().ravel()],
                     u=flat(u), y=flat(un), r=flat(r), du=flat(u.grad))

x = t((2, 3, 5, 7)).requires_grad_()
g = F.avg_pool2d(x, kernel_size=x.size()[2:])
y = g.expand(x.size())
r = t(tuple(y.shape))
(y * r).sum().backward()
out["gap"] = dict(shape=list(x.shape), x=flat(x), means=flat(g), r=flat(r), dx=flat(x.grad))

# The networks.
n, size = 2, 32
x = t((n, 1, size, size))
mask = np.zeros((n, size, size), dtype=np.int64)
yy, xx = np.mgrid[0:size, 0:size]
for s in range(n):
    d = np.hypot(yy - 15 - s, xx - 16 + s)
    mask[s][d < 10] = 1
    mask[s][d < 5] = 2
onehot = F.one_hot(torch.from_numpy(mask), 3).permute(0, 3, 1, 2).float()
for name, cls in torch_archs.ARCHS.items():
    net = cls(3, drop_rate=0.0)
    ref.set_det_weights(net)
    net.eval()
    with torch.no_grad():
        p_eval = head(net(x))
    net.train()
    with torch.no_grad():
        p_train = head(net(x))
    small = cls(3, width=8, drop_rate=0.0)
    ref.set_det_weights(small)
    small.train()
    loss = ref.paper_dice(head(small(x)), onehot)
    loss.backward()
    grads = {k: sampled(v.grad) for k, v in small.named_parameters()}
    names = [k for k in net.state_dict() if not k.endswith("num_batches_tracked")]
    trainable = sum(v.numel() for v in net.parameters())
    out[name] = dict(x=flat(x), mask=[int(v) for v in mask.ravel()], shape=[n, 1, size, size],
                     p_eval=flat(p_eval), p_train=flat(p_train), loss=float(loss), grad=grads,
                     names=names, trainable=trainable)
    print(name, trainable, "parameters", file=sys.stderr)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden_archs.json")
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"))
print("wrote", path, os.path.getsize(path), "bytes")
