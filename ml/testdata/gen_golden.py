"""Golden fixtures from PyTorch for the Go engine's tests (run from ml/: /usr/bin/python3 testdata/gen_golden.py).

Writes testdata/golden.json: for each case the inputs, the upstream gradient where there is a
backward pass, and PyTorch's outputs and gradients. Arrays are flat lists in PyTorch's (N, C, H, W)
order; shapes are given alongside. SmallUNet uses det_values() weights, which the Go tests
recompute, so the fixture holds no weights."""
import json
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_smallunet as ref  # noqa: E402

torch.manual_seed(0)
torch.set_num_threads(1)
rng = np.random.default_rng(1234)
out = {}


def t(shape, scale=1.0):
    return torch.from_numpy((rng.standard_normal(shape) * scale).astype(np.float32))


def flat(x):
    return [float(v) for v in x.detach().numpy().astype(np.float32).ravel()]


def conv_case(name, cin, cout, k, pad, dil, bias, shape):
    x = t(shape).requires_grad_()
    conv = nn.Conv2d(cin, cout, k, padding=pad, dilation=dil, bias=bias)
    with torch.no_grad():
        conv.weight.copy_(t(tuple(conv.weight.shape), 0.3))
        if bias:
            conv.bias.copy_(t((cout,), 0.3))
    y = conv(x)
    r = t(tuple(y.shape))
    (y * r).sum().backward()
    c = dict(cin=cin, cout=cout, k=k, pad=pad, dil=dil, bias=bias, xshape=list(shape), yshape=list(y.shape),
             x=flat(x), weight=flat(conv.weight), y=flat(y), r=flat(r), dx=flat(x.grad), dweight=flat(conv.weight.grad))
    if bias:
        c["b"], c["dbias"] = flat(conv.bias), flat(conv.bias.grad)
    out[name] = c


conv_case("conv3x3", 3, 4, 3, 1, 1, True, (2, 3, 8, 9))
conv_case("conv_dilated", 2, 3, 3, 2, 2, True, (2, 2, 9, 8))
conv_case("conv1x1", 3, 2, 1, 0, 1, False, (2, 3, 5, 6))
conv_case("conv_valid", 2, 3, 3, 0, 1, True, (2, 2, 7, 8))

# Batch norm, training then evaluation on the same module (running statistics carry over).
bn = nn.BatchNorm2d(3, momentum=0.1)
with torch.no_grad():
    bn.weight.copy_(t((3,), 0.5) + 1)
    bn.bias.copy_(t((3,), 0.5))
x = (t((2, 3, 5, 6)) * 2 + 0.5).requires_grad_()
y = bn(x)
r = t(tuple(y.shape))
(y * r).sum().backward()
x2 = t((2, 3, 5, 6))
bn.eval()
y2 = bn(x2)
out["batchnorm"] = dict(shape=list(x.shape), x=flat(x), gamma=flat(bn.weight), beta=flat(bn.bias), y=flat(y), r=flat(r),
                        dx=flat(x.grad), dgamma=flat(bn.weight.grad), dbeta=flat(bn.bias.grad),
                        running_mean=flat(bn.running_mean), running_var=flat(bn.running_var),
                        x_eval=flat(x2), y_eval=flat(y2))

x = t((2, 3, 5, 7)).requires_grad_()
y = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
r = t(tuple(y.shape))
(y * r).sum().backward()
out["upsample"] = dict(shape=list(x.shape), x=flat(x), y=flat(y), r=flat(r), dx=flat(x.grad))

x = t((2, 2, 6, 8)).requires_grad_()
y = F.max_pool2d(x, 2)
r = t(tuple(y.shape))
(y * r).sum().backward()
out["maxpool"] = dict(shape=list(x.shape), x=flat(x), y=flat(y), r=flat(r), dx=flat(x.grad))

# Losses on logits: value and gradient w.r.t. the logits.
def loss_case(name, c, fn):
    z = t((2, c, 6, 5), 2).requires_grad_()
    classes = max(c, 2)
    mask = torch.from_numpy(rng.integers(0, classes, size=(2, 6, 5)).astype(np.int64))
    p = torch.sigmoid(z) if c == 1 else F.softmax(z, dim=1)
    loss = fn(z, p, mask)
    loss.backward()
    out[name] = dict(shape=list(z.shape), z=flat(z), p=flat(p), mask=[int(v) for v in mask.ravel()],
                     loss=float(loss), dz=flat(z.grad))


def onehot(mask, c):
    if c == 1:
        return (mask > 0).float().unsqueeze(1)
    return F.one_hot(mask, c).permute(0, 3, 1, 2).float()


def perclass_dice(p, g, skip_bg, s=0.001):
    dims = (0, 2, 3)
    d = (-2 * (p * g).sum(dims) + s) / ((p * p).sum(dims) + (g * g).sum(dims) + s)
    return d[1:].mean() if skip_bg and p.shape[1] > 1 else d.mean()


def ce(z, mask):
    if z.shape[1] == 1:
        return F.binary_cross_entropy_with_logits(z[:, 0], (mask > 0).float())
    return F.cross_entropy(z, mask)


loss_case("dice_softmax", 3, lambda z, p, m: ref.paper_dice(p, onehot(m, 3)))
loss_case("dice_sigmoid", 1, lambda z, p, m: ref.paper_dice(p, onehot(m, 1)))
loss_case("ce_softmax", 3, lambda z, p, m: ce(z, m))
loss_case("ce_sigmoid", 1, lambda z, p, m: ce(z, m))
loss_case("dice_perclass", 3, lambda z, p, m: perclass_dice(p, onehot(m, 3), True))
loss_case("dice_ce", 3, lambda z, p, m: perclass_dice(p, onehot(m, 3), True) + ce(z, m))

# SmallUNet with deterministic weights: evaluation forward, training forward without dropout,
# and three Adam steps on one batch with the paper's Dice.
x = t((2, 1, 24, 24))
mask = np.zeros((2, 24, 24), dtype=np.int64)
yy, xx = np.mgrid[0:24, 0:24]
for s in range(2):
    d = np.hypot(yy - 11 - s, xx - 12 + s)
    mask[s][d < 8] = 1
    mask[s][d < 4] = 2
mask = torch.from_numpy(mask)
net = ref.SmallUNet(3, drop_rate=0.0)
ref.set_det_weights(net)
net.eval()
with torch.no_grad():
    p_eval = net(x)
net.train()
with torch.no_grad():
    p_train = net(x)
ref.set_det_weights(net)
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
losses = []
grads = {}
for step in range(3):
    opt.zero_grad()
    loss = ref.paper_dice(net(x), onehot(mask, 3))
    loss.backward()
    if step == 0:
        for name, v in net.named_parameters():
            f = v.grad.numpy().ravel()
            grads[name] = [float(a) for a in f[:: max(1, f.size // 64)]]
    opt.step()
    losses.append(float(loss))
# A strided sample of every tensor keeps the fixture small; the Go test samples the same indices.
sampled = {}
for name, v in net.state_dict().items():
    if name.endswith("num_batches_tracked"):
        continue
    f = v.numpy().ravel()
    sampled[name] = [float(a) for a in f[:: max(1, f.size // 64)]]
# The same three steps in float64 measure how far float32 rounding alone moves the result: Adam
# divides by the gradient's own magnitude, so tiny gradients amplify rounding. The Go test
# bounds its difference from PyTorch's float32 result by this spread.
net64 = ref.SmallUNet(3, drop_rate=0.0)
ref.set_det_weights(net64)
net64 = net64.double()
opt64 = torch.optim.Adam(net64.parameters(), lr=1e-3)
for _ in range(3):
    opt64.zero_grad()
    ref.paper_dice(net64(x.double()), onehot(mask, 3).double()).backward()
    opt64.step()
diffs = []
for name, v in net64.state_dict().items():
    if name.endswith("num_batches_tracked"):
        continue
    f = v.numpy().ravel()
    diffs.extend(np.abs(f[:: max(1, f.size // 64)] - np.array(sampled[name], dtype=np.float64)))
out["smallunet_f64_spread"] = dict(max=float(np.max(diffs)), mean=float(np.mean(diffs)))
out["smallunet"] = dict(x=flat(x), mask=[int(v) for v in mask.ravel()], shape=[2, 1, 24, 24],
                        p_eval=flat(p_eval), p_train=flat(p_train), adam_losses=losses, grad_step1=grads, after_adam=sampled)

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"))
print("wrote", path, os.path.getsize(path), "bytes")
