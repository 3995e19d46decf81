"""GAN: a small DCGAN learns to draw scikit-learn's 8x8 digits from noise (unconditional).

Two networks play a game (Goodfellow et al. 2014; the DCGAN layout of Radford et al. 2015):
the generator G turns a noise vector z into an 8x8 image, the discriminator D tells real digits
from G's. D minimises binary cross-entropy on "real = 1, fake = 0"; G uses the non-saturating
loss, maximising log D(G(z)) rather than minimising log(1 - D(G(z))), which gives it gradients
early on, when D rejects every fake with ease.

    G: z (32) - Linear - BatchNorm - ReLU - 128x2x2
       - convT 4x4/2 (128 -> 64) - BatchNorm - ReLU - convT 4x4/2 (64 -> 32) - BatchNorm - ReLU   2x2 -> 8x8
       - conv 3x3 (32 -> 1) - sigmoid
    D: 8x8 - conv 3x3 (1 -> 32) - LeakyReLU - conv 4x4/2 (32 -> 64) - LeakyReLU
       - conv 4x4/2 (64 -> 128) - BatchNorm - LeakyReLU - flatten (512) - Linear(512, 1)   8x8 -> logit

The last 3x3 layers of both work at full resolution: with only the two up-sampling steps, a third
of the samples were strokes between two digits (65-69% clear digits below, against 76-80% now).

How good are the fakes? The digit classifier that digits_cnn.py trains (--classifier; trained
here first, by running digits_cnn.py, if the file is missing) labels 1,000 samples: a sample
counts as a clear digit when the classifier is more than 90% sure of it, and a GAN that collapsed
onto a few digits shows up as missing classes. Saves a grid of samples, sorted by class.

    python examples/gan.py            # full run: >= 80% clear digits, all 10 classes (~10 min on 2 cores)
    python examples/gan.py --quick    # short run used by the tests
"""
import argparse
import os
import time

import numpy as np

import ember
import ember.nn as nn
import ember.optim as optim
from ember.utils.data import DataLoader, TensorDataset

try:
    from tqdm import tqdm
except ImportError:  # tqdm is optional: fall back to the plain iterator
    def tqdm(iterable, **kwargs):
        return iterable

import digits_cnn  # the classifier: load_or_train(); this script's folder is on sys.path

HERE = os.path.dirname(os.path.abspath(__file__))


def make_generator(latent):
    return nn.Sequential(
        nn.Linear(latent, 128 * 2 * 2), nn.BatchNorm1d(128 * 2 * 2), nn.ReLU(),
        nn.Unflatten(1, (128, 2, 2)),
        nn.ConvTranspose2d(128, 64, kernel_size=4, stride=2, padding=1), nn.BatchNorm2d(64), nn.ReLU(),  # 4x4
        nn.ConvTranspose2d(64, 32, kernel_size=4, stride=2, padding=1), nn.BatchNorm2d(32), nn.ReLU(),   # 8x8
        nn.Conv2d(32, 1, kernel_size=3, padding=1),
        nn.Sigmoid(),  # pixels in [0, 1], like the real digits
    )


def make_discriminator():
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(32, 64, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, kernel_size=4, stride=2, padding=1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Flatten(),
        nn.Linear(128 * 2 * 2, 1),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--latent", type=int, default=32, help="size of the noise vector z")
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--samples", type=int, default=1000, help="how many samples the classifier scores")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(HERE, "out"), help="folder for the figure")
    parser.add_argument("--classifier", default=None,
                        help="digits_cnn.py's saved classifier (default: OUT/digits_cnn.safetensors)")
    parser.add_argument("--quick", action="store_true", help="a short run (used by the tests)")
    args = parser.parse_args()
    if args.quick:
        args.epochs = 4
    ember.manual_seed(args.seed)
    classifier = digits_cnn.load_or_train(args.classifier or os.path.join(args.out, "digits_cnn.safetensors"),
                                 args.quick, args.seed)

    # The data: all 1,797 digits, scaled to [0, 1]. No labels: the GAN is unconditional.
    from sklearn.datasets import load_digits
    images = (load_digits().images / 16.0).astype(np.float32)[:, None, :, :]
    loader = DataLoader(TensorDataset(ember.from_numpy(images)), batch_size=args.batch_size,
                        shuffle=True, drop_last=True)

    # The two models, the loss and one Adam per player (DCGAN's betas: a short momentum memory).
    generator, discriminator = make_generator(args.latent), make_discriminator()
    bce = nn.BCEWithLogitsLoss()
    opt_g = optim.Adam(generator.parameters(), lr=args.lr, betas=(0.5, 0.999))
    opt_d = optim.Adam(discriminator.parameters(), lr=args.lr, betas=(0.5, 0.999))
    ones = ember.ones(args.batch_size, 1)
    zeros = ember.zeros(args.batch_size, 1)

    # The training loop: per batch, one step for D on real and fake, then one step for G.
    history = {"loss_d": [], "loss_g": []}
    start = time.perf_counter()
    bar = tqdm(range(args.epochs), desc="gan")
    for epoch in bar:
        sum_d = sum_g = 0.0
        for (real,) in loader:
            fake = generator(ember.randn(args.batch_size, args.latent))
            # D: real -> 1, fake -> 0. detach(): this step must not reach into G.
            loss_d = bce(discriminator(real), ones) + bce(discriminator(fake.detach()), zeros)
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            # G: make D call the fakes real.
            loss_g = bce(discriminator(fake), ones)
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            sum_d += loss_d.item()
            sum_g += loss_g.item()
        history["loss_d"].append(sum_d / len(loader))
        history["loss_g"].append(sum_g / len(loader))
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss_d=f"{history['loss_d'][-1]:.3f}", loss_g=f"{history['loss_g'][-1]:.3f}")
    elapsed = time.perf_counter() - start

    # Score fresh samples with the classifier.
    generator.eval()
    with ember.no_grad():
        samples = generator(ember.randn(args.samples, args.latent))
        probs = nn.functional.softmax(classifier(samples), dim=1)
        confidence, label = probs.max(dim=1)
    samples, confidence, label = samples.numpy()[:, 0], confidence.numpy(), label.numpy()
    clear = confidence > 0.9
    counts = np.bincount(label[clear], minlength=10)
    print(f"GAN: {args.epochs} epochs in {elapsed:.1f}s; {clear.mean():.1%} of {args.samples} samples are clear "
          f"digits (classifier > 90% sure); clear samples per class: {counts.tolist()}")

    save_figure(samples, label, confidence, history, os.path.join(args.out, "gan.png"))
    print(f"RESULT clear_fraction={clear.mean():.4f} classes={int((counts > 0).sum())} "
          f"min_class_count={int(counts.min())} seconds={elapsed:.1f}")


def save_figure(samples, label, confidence, history, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no figure")
        return
    columns = 12
    fig = plt.figure(figsize=(12, 6.2))
    grid = fig.add_gridspec(1, 2, width_ratios=[1.5, 1])
    # Left: for each class the clear samples the classifier is surest of, a blank where there are too few.
    ax = fig.add_subplot(grid[0])
    rows = np.zeros((10 * 9, columns * 9))
    for digit in range(10):
        chosen = np.flatnonzero((label == digit) & (confidence > 0.9))
        chosen = chosen[np.argsort(-confidence[chosen])][:columns]
        for j, index in enumerate(chosen):
            rows[digit * 9:digit * 9 + 8, j * 9:j * 9 + 8] = samples[index]
    ax.imshow(rows, cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    ax.set_yticks(np.arange(10) * 9 + 3.5, [str(d) for d in range(10)])
    ax.set_xticks([])
    ax.set_ylabel("classifier's label")
    ax.set_title("generated digits, sorted by the classifier's label")
    # Right: the losses of the two players.
    ax = fig.add_subplot(grid[1])
    epochs = np.arange(1, len(history["loss_d"]) + 1)
    ax.plot(epochs, history["loss_d"], label="discriminator")
    ax.plot(epochs, history["loss_g"], label="generator")
    ax.set_xlabel("epoch")
    ax.set_title("GAN losses (binary cross-entropy)")
    ax.legend()
    ax.grid(alpha=0.3)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
