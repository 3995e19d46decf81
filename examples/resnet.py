"""ResNet-20: He et al.'s residual network for CIFAR-10, with random-crop and flip augmentation.

The CIFAR variant of "Deep Residual Learning for Image Recognition" (He, Zhang, Ren, Sun 2016,
section 4.2), with 6n + 2 = 20 weighted layers for n = 3:

    conv 3x3 (3 -> 16) - BatchNorm - ReLU                                        32x32
    stage 1: 3 basic blocks, 16 channels                                         32x32
    stage 2: 3 basic blocks, 32 channels, the first with stride 2                16x16
    stage 3: 3 basic blocks, 64 channels, the first with stride 2                 8x8
    global average pool - Linear(64, 10)

A basic block computes relu(x + BN(conv(relu(BN(conv(x)))))) with 3x3 convolutions. Where a
block halves the resolution and doubles the channels, the shortcut is the paper's option A (take
every other pixel, pad the new channels with zeros: no parameters) or, with --shortcut B, a 1x1
strided convolution with BatchNorm. Training augments each batch with a random 32x32 crop of the
image padded by 4 pixels and a random horizontal flip, and minimises cross-entropy with SGD.

The data are the CIFAR-10 python batches in DATA/cifar-10-batches-py, read by ember.datasets.CIFAR10.
Nothing is downloaded unless asked: --download fetches the official archive (163 MB, MD5-checked).
Without the files, --synthetic writes generated images in the same file format to a temporary
folder and trains on those: ten classes of shapes and stripes (disc, ring, square, frame, plus,
cross, triangle, horizontal and vertical stripes, checkerboard) at random places, sizes and colours
on noisy backgrounds.

The full schedule (the paper's): batch 128, SGD with momentum 0.9 and weight decay 1e-4, learning
rate 0.1 divided by 10 at epochs 82 and 123, 164 epochs (64k iterations). He et al. report 8.75%
test error for ResNet-20 (91.25% accuracy); expect about 91%. At 41M multiply-adds per image
forward, and about twice that backward, the schedule is some 2 x 10^15 floating-point operations:
a job for a GPU (--device cuda), not for the CPU cores these examples are tested on, so it has
not been run here.

    python examples/resnet.py --download                 # full schedule on CIFAR-10: ~91% test accuracy
    python examples/resnet.py --synthetic                # generated images: ~80% test accuracy, ~2 min on one core
    python examples/resnet.py --quick                    # generated images, a short run used by the tests
"""
import argparse
import os
import pickle
import tempfile
import time

import numpy as np

import ember
import ember.nn as nn
import ember.nn.functional as F
import ember.optim as optim
from ember.datasets import CIFAR10

try:
    from tqdm import tqdm
except ImportError:  # tqdm is optional: fall back to the plain iterator
    def tqdm(iterable, **kwargs):
        return iterable

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
SHAPES = ["disc", "ring", "square", "frame", "plus", "cross", "triangle", "h-stripes", "v-stripes", "checkers"]


# ---- the model ------------------------------------------------------------------------------
class BasicBlock(nn.Module):
    def __init__(self, in_channels, channels, stride, shortcut):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.stride, self.extra_channels = stride, channels - in_channels
        self.projection = None
        if shortcut == "B" and (stride != 1 or in_channels != channels):
            self.projection = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(channels))

    def shortcut(self, x):
        if self.projection is not None:
            return self.projection(x)
        if self.stride == 1 and self.extra_channels == 0:
            return x
        # Option A: subsample, then zero-pad the channel dimension (pad order: W, H, C).
        half = self.extra_channels // 2
        return F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, half, self.extra_channels - half))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, blocks_per_stage=3, num_classes=10, shortcut="A"):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        layers, in_channels = [], 16
        for channels, stride in [(16, 1), (32, 2), (64, 2)]:
            for i in range(blocks_per_stage):
                layers.append(BasicBlock(in_channels, channels, stride if i == 0 else 1, shortcut))
                in_channels = channels
        self.stages = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():  # He initialisation, as in the paper
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        return self.fc(self.pool(self.stages(self.stem(x))).flatten(1))


# ---- the data -------------------------------------------------------------------------------
def draw_shapes(labels, rng, size=32):
    """Images (N, 3, size, size) uint8 of the shape named SHAPES[label], each at a random place, size
    and colour on a noisy background. All ten are unchanged by a horizontal flip, as the augmentation needs."""
    n = len(labels)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    centre = rng.uniform(11, size - 11, size=(n, 2, 1, 1)).astype(np.float32)
    radius = rng.uniform(6, 10, size=(n, 1, 1)).astype(np.float32)
    u, v = (x - centre[:, 0]) / radius, (y - centre[:, 1]) / radius  # shape coordinates, (n, size, size)
    ring, box = np.sqrt(u * u + v * v), np.maximum(np.abs(u), np.abs(v))
    period = rng.uniform(4, 8, size=(n, 1, 1)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1, 1)).astype(np.float32)
    masks = [
        ring < 1,                                                         # disc
        (ring > 0.55) & (ring < 1),                                       # ring
        box < 0.8,                                                        # square
        (box > 0.5) & (box < 0.9),                                        # frame
        ((np.abs(u) < 0.25) | (np.abs(v) < 0.25)) & (box < 1),            # plus
        ((np.abs(u - v) < 0.35) | (np.abs(u + v) < 0.35)) & (box < 0.9),  # cross
        (np.abs(v) < 0.8) & (np.abs(u) < 0.5 * (v + 0.8)),                # triangle, apex up
        np.sin(2 * np.pi * y / period + phase) > 0,                      # horizontal stripes
        np.sin(2 * np.pi * x / period + phase) > 0,                      # vertical stripes
        (np.sin(2 * np.pi * x / period + phase) > 0) ^ (np.sin(2 * np.pi * y / period) > 0),  # checkers
    ]
    mask = np.stack(masks)[labels, np.arange(n)][:, None]  # (n, 1, size, size)
    background = rng.uniform(0, 1, size=(n, 3, 1, 1))
    # Each channel of the foreground moves 0.3 to 0.5 away from the background, towards the far end
    # of [0, 1], so the shape always shows and never needs clipping.
    away = np.where(background < 0.5, 1.0, -1.0)
    foreground = background + away * rng.uniform(0.3, 0.5, size=(n, 3, 1, 1))
    images = np.where(mask, foreground, background) + rng.normal(0, 0.08, size=(n, 3, size, size))
    return (np.clip(images, 0, 1) * 255).round().astype(np.uint8)


def write_cifar_batch(path, images, labels, batch_label):
    """Writes one batch in the CIFAR-10 python format: a pickled dict whose 'data' is uint8 (N, 3072),
    each row the red, then green, then blue 32x32 plane in row-major order, and 'labels' a list of ints."""
    batch = {"batch_label": batch_label, "data": images.reshape(len(images), -1),
             "labels": [int(k) for k in labels], "filenames": [f"synthetic_{i:05d}.png" for i in range(len(labels))]}
    with open(path, "wb") as f:
        # The official files are Python 2 pickles of the same dict; the reader takes either.
        pickle.dump(batch, f, protocol=4)


def write_synthetic_cifar(root, n_train, n_test, seed):
    """Generated shapes as DATA/cifar-10-batches-py/{data_batch_1..5, test_batch}; returns root."""
    rng = np.random.default_rng(seed)
    folder = os.path.join(root, "cifar-10-batches-py")
    os.makedirs(folder, exist_ok=True)
    train_labels = rng.permutation(np.arange(n_train) % 10)
    for i, part in enumerate(np.array_split(train_labels, 5), start=1):
        write_cifar_batch(os.path.join(folder, f"data_batch_{i}"), draw_shapes(part, rng), part,
                          f"training batch {i} of 5")
    test_labels = rng.permutation(np.arange(n_test) % 10)
    write_cifar_batch(os.path.join(folder, "test_batch"), draw_shapes(test_labels, rng), test_labels,
                      "testing batch 1 of 1")
    return root


def augment(images, rng, pad=4):
    """A random size x size crop of each image zero-padded by `pad` on every side, then a horizontal
    flip with probability 1/2. images: float32 (N, C, H, W), already normalised, so zero is the mean colour."""
    n, c, h, w = images.shape
    padded = np.pad(images, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    top, left = rng.integers(0, 2 * pad + 1, size=(2, n))
    rows = (top[:, None] + np.arange(h))[:, None, :, None]
    cols = (left[:, None] + np.arange(w))[:, None, None, :]
    out = padded[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None], rows, cols]
    flip = rng.random(n) < 0.5
    out[flip] = out[flip, :, :, ::-1]
    return np.ascontiguousarray(out)


def evaluate(model, loss_fn, images, labels, device, batch_size=500):
    model.eval()  # BatchNorm uses its running statistics
    total_loss, correct = 0.0, 0
    with ember.no_grad():
        for i in range(0, len(labels), batch_size):
            xb = ember.from_numpy(images[i:i + batch_size]).to(device)
            yb = ember.from_numpy(labels[i:i + batch_size]).to(device)
            logits = model(xb)
            total_loss += loss_fn(logits, yb).item() * len(yb)
            correct += int((logits.argmax(dim=1) == yb).sum().item())
    return total_loss / len(labels), correct / len(labels)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data", help="folder holding cifar-10-batches-py (default: ./data)")
    parser.add_argument("--download", action="store_true", help="fetch CIFAR-10 into DATA if it is missing")
    parser.add_argument("--synthetic", action="store_true",
                        help="train on generated images in the CIFAR-10 format instead of CIFAR-10")
    parser.add_argument("--synthetic-train", type=int, default=2000, help="generated training images")
    parser.add_argument("--synthetic-test", type=int, default=500, help="generated test images")
    parser.add_argument("--blocks", type=int, default=3, help="blocks per stage n; 6n + 2 layers (3: ResNet-20)")
    parser.add_argument("--shortcut", choices=["A", "B"], default="A",
                        help="A: subsample and zero-pad; B: 1x1 convolution (where the shape changes)")
    parser.add_argument("--epochs", type=int, default=None, help="default: 164, or 6 with --synthetic")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--device", default="cuda" if ember.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figure")
    parser.add_argument("--quick", action="store_true", help="a short run on generated images (used by the tests)")
    args = parser.parse_args()
    if args.quick:  # ResNet-20 trains at about 75 images a second on one core: keep this small
        args.synthetic, args.synthetic_train, args.synthetic_test = True, 256, 100
        args.epochs, args.batch_size, args.lr = 2, 32, 0.05
    if args.epochs is None:
        args.epochs = 6 if args.synthetic else 164
    ember.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    with tempfile.TemporaryDirectory(prefix="ember_synthetic_cifar_") as tmp:
        if args.synthetic:
            root = write_synthetic_cifar(tmp, args.synthetic_train, args.synthetic_test, args.seed)
        else:
            root = args.data
            if not args.download and not os.path.exists(os.path.join(root, CIFAR10.base_folder, "test_batch")):
                parser.error(f"no CIFAR-10 in {os.path.join(root, CIFAR10.base_folder)}: pass --download to fetch "
                             f"it (163 MB), --data to point at a copy, or --synthetic to use generated images")
        train_set = CIFAR10(root, train=True, download=args.download and not args.synthetic)
        test_set = CIFAR10(root, train=False)
    names = SHAPES if args.synthetic else CLASSES

    # Per-channel standardisation with the training set's statistics. The images are uint8
    # (N, 3, 32, 32); in float32 CIFAR-10's training set takes 600 MB, so work in place.
    x_train = train_set.data.astype(np.float32) / 255.0
    mean = x_train.mean(axis=(0, 2, 3), keepdims=True)
    std = x_train.std(axis=(0, 2, 3), keepdims=True)
    x_train -= mean
    x_train /= std
    x_test = (test_set.data.astype(np.float32) / 255.0 - mean) / std
    y_train, y_test = train_set.targets, test_set.targets
    print(f"{'generated' if args.synthetic else 'CIFAR-10'}: {len(y_train)} training and {len(y_test)} test images; "
          f"device {args.device}")

    # The model, the loss, the optimizer and the schedule: the learning rate is divided by 10 after
    # 50% and after 75% of the iterations (the paper's 32k and 48k of 64k).
    model = ResNet(args.blocks, shortcut=args.shortcut).to(args.device)
    n_weights = sum(p.numel() for p in model.parameters())
    print(f"ResNet-{6 * args.blocks + 2} (shortcut {args.shortcut}): {n_weights:,} parameters")
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, weight_decay=args.weight_decay)
    iterations = args.epochs * -(-len(y_train) // args.batch_size)
    scheduler = optim.lr_scheduler.MultiStepLR(optimizer, milestones=[iterations // 2, iterations * 3 // 4],
                                               gamma=0.1)

    # The training loop: a fresh random order and fresh augmentations every epoch.
    history = {"train_loss": [], "test_loss": [], "test_acc": []}
    start = time.perf_counter()
    bar = tqdm(range(args.epochs), desc="resnet")
    for epoch in bar:
        model.train()
        order = rng.permutation(len(y_train))
        total, count = 0.0, 0
        for i in range(0, len(order), args.batch_size):
            idx = order[i:i + args.batch_size]
            xb = ember.from_numpy(augment(x_train[idx], rng)).to(args.device)
            yb = ember.from_numpy(y_train[idx]).to(args.device)
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(idx)
            count += len(idx)
        test_loss, test_acc = evaluate(model, loss_fn, x_test, y_test, args.device)
        history["train_loss"].append(total / count)
        history["test_loss"].append(test_loss)
        history["test_acc"].append(test_acc)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{total / count:.3f}", test_acc=f"{test_acc:.3f}")
    elapsed = time.perf_counter() - start

    first, last = history["train_loss"][0], history["train_loss"][-1]
    acc = history["test_acc"][-1]
    print(f"{args.epochs} epochs in {elapsed:.1f}s: training loss {first:.3f} -> {last:.3f}, "
          f"test accuracy {acc:.4f} (chance {1 / len(names):.2f})")
    save_figure(train_set.data, y_train, names, history, args.synthetic, os.path.join(args.out, "resnet.png"))
    print(f"RESULT first_loss={first:.4f} last_loss={last:.4f} accuracy={acc:.4f} seconds={elapsed:.1f}")


def save_figure(images, labels, names, history, synthetic, path, per_class=6):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no figure")
        return
    fig = plt.figure(figsize=(13, 5.2))
    grid = fig.add_gridspec(per_class, 2 * len(names) + 9, wspace=0.05, hspace=0.05)
    for k, name in enumerate(names):  # a few training images of each class (before augmentation)
        for r, i in enumerate(np.flatnonzero(labels == k)[:per_class]):
            ax = fig.add_subplot(grid[r, 2 * k:2 * k + 2])
            ax.imshow(images[i].transpose(1, 2, 0), interpolation="nearest")
            ax.set_axis_off()
            if r == 0:
                ax.set_title(name, fontsize=8)
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    ax_loss = fig.add_subplot(grid[:per_class // 2, 2 * len(names) + 2:])
    ax_loss.plot(epochs, history["train_loss"], marker="o", label="train")
    ax_loss.plot(epochs, history["test_loss"], marker="o", label="test")
    ax_loss.set_yscale("log")  # the test loss starts far off while BatchNorm's running statistics settle
    ax_loss.set_title("cross-entropy loss")
    ax_loss.legend()
    ax_loss.set_xticklabels([])
    ax_acc = fig.add_subplot(grid[per_class // 2 + 1:, 2 * len(names) + 2:])
    ax_acc.plot(epochs, history["test_acc"], marker="o", color="C1")
    ax_acc.set_ylim(0, 1)
    ax_acc.set_xlabel("epoch")
    ax_acc.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax_loss.xaxis.set_major_locator(plt.MaxNLocator(integer=True))
    ax_acc.set_title(f"test accuracy (final {history['test_acc'][-1]:.1%})")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
    fig.suptitle("ResNet-20 on " + ("generated images in the CIFAR-10 format" if synthetic else "CIFAR-10"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
