"""The reference for `convert_models.py siggraph17 --pth`: torch itself, running
SIGGRAPHGenerator's architecture with seeded random weights (tests skip without torch)."""

from __future__ import annotations

import pytest


def torch_reference():
    """SIGGRAPHGenerator's layers and forward pass, written out from its published description
    (Conv/ReLU blocks ending in BatchNorm, subsampling by [::2, ::2], three ConvTranspose
    stages with shortcuts, TanH x 110; inputs (L - 50) / 100, ab / 110, mask)."""
    torch = pytest.importorskip("torch")
    nn = torch.nn

    def block(cin, cout, count, dilation=1, lead=False, norm=True, slope=0.0):
        layers = [nn.ReLU()] if lead else []
        for j in range(count):
            layers += [nn.Conv2d(cout if j else cin, cout, 3, padding=dilation,
                                 dilation=dilation),
                       nn.LeakyReLU(slope) if slope else nn.ReLU()]
        return nn.Sequential(*layers, *([nn.BatchNorm2d(cout)] if norm else []))

    class Reference(nn.Module):
        def __init__(self):
            super().__init__()
            self.model1, self.model2 = block(4, 64, 2), block(64, 128, 2)
            self.model3, self.model4 = block(128, 256, 3), block(256, 512, 3)
            self.model5, self.model6 = block(512, 512, 3, 2), block(512, 512, 3, 2)
            self.model7 = block(512, 512, 3)
            for i, (cin, cout, short_in) in zip((8, 9, 10), ((512, 256, 256), (256, 128, 128),
                                                            (128, 128, 64))):
                setattr(self, f"model{i}up", nn.Sequential(nn.ConvTranspose2d(cin, cout, 4, 2, 1)))
                setattr(self, f"model{11 - i}short{i}",
                        nn.Sequential(nn.Conv2d(short_in, cout, 3, padding=1)))
            self.model8 = block(256, 256, 2, lead=True)
            self.model9 = block(128, 128, 1, lead=True)
            self.model10 = block(128, 128, 1, lead=True, norm=False, slope=0.2)
            self.model_class = nn.Sequential(nn.Conv2d(256, 529, 1))
            self.model_out = nn.Sequential(nn.Conv2d(128, 2, 1), nn.Tanh())

        def forward(self, lightness, ab, mask):
            c1 = self.model1(torch.cat(((lightness - 50) / 100, ab / 110, mask), 1))
            c2 = self.model2(c1[:, :, ::2, ::2])
            c3 = self.model3(c2[:, :, ::2, ::2])
            c7 = self.model7(self.model6(self.model5(self.model4(c3[:, :, ::2, ::2]))))
            c8 = self.model8(self.model8up(c7) + self.model3short8(c3))
            c9 = self.model9(self.model9up(c8) + self.model2short9(c2))
            return self.model_out(self.model10(self.model10up(c9) + self.model1short10(c1))) * 110

    torch.manual_seed(0)
    model = Reference().eval()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.uniform_(-1.5, 1.5)  # negative scales too: those cannot fold
                m.bias.uniform_(-0.2, 0.2)
    return torch, model
