"""The reference SmallUNet (multiclass-segmentation / medicaltorch), as PIPELINE.md states it,
with bilinear x2 upsampling align_corners=False. Shared by the golden generator and the
benchmark so both compare against the same network; parameter names match the Go engine's."""
import math

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class DownConv(nn.Module):
    def __init__(self, in_feat, out_feat, drop_rate=0.3, bn_momentum=0.1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_feat, out_feat, kernel_size=3, padding=1)
        self.conv1_bn = nn.BatchNorm2d(out_feat, momentum=bn_momentum)
        self.conv1_drop = nn.Dropout2d(drop_rate)
        self.conv2 = nn.Conv2d(out_feat, out_feat, kernel_size=3, padding=1)
        self.conv2_bn = nn.BatchNorm2d(out_feat, momentum=bn_momentum)
        self.conv2_drop = nn.Dropout2d(drop_rate)

    def forward(self, x):
        x = self.conv1_drop(self.conv1_bn(F.relu(self.conv1(x))))
        return self.conv2_drop(self.conv2_bn(F.relu(self.conv2(x))))


class UpConv(nn.Module):
    def __init__(self, in_feat, out_feat, drop_rate=0.3, bn_momentum=0.1):
        super().__init__()
        self.downconv = DownConv(in_feat, out_feat, drop_rate, bn_momentum)

    def forward(self, x, y):
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        return self.downconv(torch.cat([x, y], dim=1))


class SmallUNet(nn.Module):
    def __init__(self, out_channels, drop_rate=0.3, bn_momentum=0.1):
        super().__init__()
        self.conv1 = DownConv(1, 32, drop_rate, bn_momentum)
        self.mp1 = nn.MaxPool2d(2)
        self.conv2 = DownConv(32, 64, drop_rate, bn_momentum)
        self.mp2 = nn.MaxPool2d(2)
        self.conv3 = DownConv(64, 128, drop_rate, bn_momentum)
        self.mp3 = nn.MaxPool2d(2)
        self.conv4 = DownConv(128, 128, drop_rate, bn_momentum)
        self.up1 = UpConv(256, 128, drop_rate, bn_momentum)
        self.up2 = UpConv(192, 64, drop_rate, bn_momentum)
        self.up3 = UpConv(96, 32, drop_rate, bn_momentum)
        self.conv9 = nn.Conv2d(32, out_channels, kernel_size=3, padding=1)

    def forward(self, x):
        x1 = self.conv1(x)
        x3 = self.conv2(self.mp1(x1))
        x5 = self.conv3(self.mp2(x3))
        x7 = self.conv4(self.mp3(x5))
        x8 = self.up1(x7, x5)
        x9 = self.up2(x8, x3)
        x10 = self.up3(x9, x1)
        z = self.conv9(x10)
        return torch.sigmoid(z) if z.shape[1] == 1 else F.softmax(z, dim=1)


def paper_dice(p, onehot, s=0.001):
    return (-2 * (p * onehot).sum() + s) / ((p * p).sum() + (onehot * onehot).sum() + s)


def det_values(name, shape):
    """Deterministic tensor contents shared with the Go tests (detFill in golden_test.go)."""
    n = int(np.prod(shape))
    phase = 0.01 * sum(name.encode()) + 0.3
    s = np.sin(0.7 * np.arange(n, dtype=np.float64) + phase)
    if name.endswith("running_var"):
        v = 1 + 0.3 * s
    elif name.endswith("running_mean"):
        v = 0.1 * s
    elif name.endswith("_bn.weight"):
        v = 1 + 0.2 * s
    elif name.endswith("_bn.bias") or name.endswith(".bias"):
        v = 0.1 * s
    else:
        fan_in = int(np.prod(shape[1:]))
        v = 1.5 / math.sqrt(fan_in) * s
    return torch.from_numpy(v.astype(np.float32).reshape(shape))


def set_det_weights(model):
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            t.copy_(det_values(name, tuple(t.shape)))
