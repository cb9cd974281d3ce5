"""The reference's UNet, SegNet and NoPoolASPP ("multiclass-segmentation" models.py), as the Go
engine implements them (see unet.go, segnet.go, nopoolaspp.go), with the first level's width as
a parameter (the paper's is 64). Every network returns logits; the generator applies the head
(softmax over K+1 channels, sigmoid for one). Parameter names match the reference's state_dict
and the Go engine's."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from torch_smallunet import DownConv, UpConv


class UNet(nn.Module):
    def __init__(self, out_channels, width=64, drop_rate=0.3, bn_momentum=0.1):
        super().__init__()
        w = [width, 2 * width, 4 * width, 8 * width, 8 * width]
        self.conv1 = DownConv(1, w[0], drop_rate, bn_momentum)
        self.conv2 = DownConv(w[0], w[1], drop_rate, bn_momentum)
        self.conv3 = DownConv(w[1], w[2], drop_rate, bn_momentum)
        self.conv4 = DownConv(w[2], w[3], drop_rate, bn_momentum)
        self.conv5 = DownConv(w[3], w[4], drop_rate, bn_momentum)
        self.up1 = UpConv(w[4] + w[3], w[3], drop_rate, bn_momentum)
        self.up2 = UpConv(w[3] + w[2], w[2], drop_rate, bn_momentum)
        self.up3 = UpConv(w[2] + w[1], w[1], drop_rate, bn_momentum)
        self.up4 = UpConv(w[1] + w[0], w[0], drop_rate, bn_momentum)
        self.conv11 = nn.Conv2d(w[0], out_channels, kernel_size=3, padding=1)

    def forward(self, x):
        x1 = self.conv1(x)
        x3 = self.conv2(F.max_pool2d(x1, 2))
        x5 = self.conv3(F.max_pool2d(x3, 2))
        x7 = self.conv4(F.max_pool2d(x5, 2))
        x9 = self.conv5(F.max_pool2d(x7, 2))
        x = self.up1(x9, x7)
        x = self.up2(x, x5)
        x = self.up3(x, x3)
        x = self.up4(x, x1)
        return self.conv11(x)


SEGNET_CONVS = [2, 2, 3, 3, 3]


class SegNet(nn.Module):
    """conv -> BatchNorm -> Dropout2d -> ReLU units; max pooling with indices; max unpooling."""

    def __init__(self, out_channels, width=64, drop_rate=0.3, bn_momentum=0.1):
        super().__init__()
        self.w = [width, 2 * width, 4 * width, 8 * width, 8 * width]
        self.drop_rate = drop_rate
        cin = 1
        for s, c in enumerate(SEGNET_CONVS):
            for j in range(c):
                self._unit(f"{s + 1}{j + 1}", cin, self.w[s], bn_momentum)
                cin = self.w[s]
        for s in reversed(range(5)):
            for j in range(SEGNET_CONVS[s], 0, -1):
                if s == 0 and j == 1:
                    break
                out = self.w[s] if j > 1 else self.w[s - 1]
                self._unit(f"{s + 1}{j}d", self.w[s], out, bn_momentum)
        self.conv11d = nn.Conv2d(width, out_channels, kernel_size=3, padding=1)

    def _unit(self, name, cin, cout, momentum):
        setattr(self, "conv" + name, nn.Conv2d(cin, cout, kernel_size=3, padding=1))
        setattr(self, "bn" + name, nn.BatchNorm2d(cout, momentum=momentum))
        setattr(self, "drop" + name, nn.Dropout2d(self.drop_rate))

    def _run(self, name, x):
        bn, drop, conv = getattr(self, "bn" + name), getattr(self, "drop" + name), getattr(self, "conv" + name)
        return F.relu(drop(bn(conv(x))))

    def forward(self, x):
        idx, sizes = [], []
        for s, c in enumerate(SEGNET_CONVS):
            for j in range(c):
                x = self._run(f"{s + 1}{j + 1}", x)
            sizes.append(x.size())
            x, i = F.max_pool2d(x, kernel_size=2, stride=2, return_indices=True)
            idx.append(i)
        for s in reversed(range(5)):
            x = F.max_unpool2d(x, idx[s], kernel_size=2, stride=2, output_size=sizes[s])
            for j in range(SEGNET_CONVS[s], 0, -1):
                if s == 0 and j == 1:
                    break
                x = self._run(f"{s + 1}{j}d", x)
        return self.conv11d(x)


class NoPoolASPP(nn.Module):
    RATES = [6, 12, 18, 24]

    def __init__(self, out_channels, width=64, drop_rate=0.3, bn_momentum=0.1):
        super().__init__()
        b = width
        self.names = []

        def unit(name, cin, cout, k, dil):
            setattr(self, name, nn.Conv2d(cin, cout, kernel_size=k, padding=dil * (k - 1) // 2, dilation=dil))
            setattr(self, name + "_bn", nn.BatchNorm2d(cout, momentum=bn_momentum))
            setattr(self, name + "_drop", nn.Dropout2d(drop_rate))

        unit("conv1a", 1, b, 3, 1)
        unit("conv1b", b, b, 3, 1)
        unit("conv2a", b, b, 3, 2)
        unit("conv2b", b, b, 3, 2)
        unit("branch1a", b, b, 3, 1)
        unit("branch1b", b, b, 1, 1)
        for i, r in enumerate(self.RATES):
            unit(f"branch{i + 2}a", b, b, 3, r)
            unit(f"branch{i + 2}b", b, b, 3, r)
        self.concat_drop = nn.Dropout2d(drop_rate)
        self.concat_bn = nn.BatchNorm2d(6 * b, momentum=bn_momentum)
        unit("amort", 6 * b, 2 * b, 1, 1)
        self.prediction = nn.Conv2d(2 * b, out_channels, kernel_size=1)

    def _run(self, name, x):
        return getattr(self, name + "_drop")(getattr(self, name + "_bn")(F.relu(getattr(self, name)(x))))

    def forward(self, x):
        for name in ["conv1a", "conv1b", "conv2a", "conv2b"]:
            x = self._run(name, x)
        branches = [self._run(f"branch{i}b", self._run(f"branch{i}a", x)) for i in range(1, 6)]
        pooled = F.avg_pool2d(x, kernel_size=x.size()[2:]).expand(x.size())
        cat = self.concat_drop(self.concat_bn(torch.cat(branches + [pooled], dim=1)))
        return self.prediction(self._run("amort", cat))


ARCHS = {"unet": UNet, "segnet": SegNet, "nopoolaspp": NoPoolASPP}
