"""Autoencoder: a convolutional autoencoder compresses 8x8 digits to a small code and beats PCA at the same size.

The data are scikit-learn's bundled 8x8 digits (1,797 images, no download; 20% held out for
testing). The encoder downsamples with a strided convolution, the decoder upsamples with a
transposed convolution (ConvTranspose2d), and the code in between has CODE numbers:

    encoder: conv 3x3 (1 -> 32) - ReLU - conv 3x3 stride 2 (32 -> 64) - ReLU     8x8 -> 4x4
             flatten (1024) - Linear(1024, CODE)
    decoder: Linear(CODE, 1024) - ReLU - unflatten (64, 4, 4)
             conv-transpose 4x4 stride 2 (64 -> 32) - ReLU                       4x4 -> 8x8
             conv 3x3 (32 -> 1) - Sigmoid

trained to reproduce its input under the mean squared error with Adam. PCA is the best *linear*
code of that size: projecting onto the top CODE principal components of the training images
(computed here with numpy's SVD) gives the smallest squared error any linear encoder-decoder
pair can reach, so an autoencoder below it has used its nonlinearity. Prints both test errors;
saves a figure of test digits next to their two reconstructions, and the learning curve.

    python examples/autoencoder.py            # full run: test MSE 0.010 vs PCA's 0.025 (code size 8), ~40 s
    python examples/autoencoder.py --quick    # short run used by the tests
"""
import argparse
import os
import time

import numpy as np

import ember
import ember.nn as nn
import ember.optim as optim
from ember.datasets import digits
from ember.utils.data import DataLoader, TensorDataset

try:
    from tqdm import tqdm
except ImportError:  # tqdm is optional: fall back to the plain iterator
    def tqdm(iterable, **kwargs):
        return iterable


def make_autoencoder(code_size):
    encoder = nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3, padding=1), nn.ReLU(),
        nn.Conv2d(32, 64, kernel_size=3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(),
        nn.Linear(64 * 4 * 4, code_size),
    )
    decoder = nn.Sequential(
        nn.Linear(code_size, 64 * 4 * 4), nn.ReLU(),
        nn.Unflatten(1, (64, 4, 4)),
        nn.ConvTranspose2d(64, 32, kernel_size=4, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(32, 1, kernel_size=3, padding=1),
        nn.Sigmoid(),  # pixels are in [0, 1]
    )
    return nn.Sequential(encoder, decoder)


def pca_reconstruct(train, test, code_size):
    """Reconstructs the test images from their top `code_size` principal components of the training set."""
    flat_train, flat_test = train.reshape(len(train), -1), test.reshape(len(test), -1)
    mean = flat_train.mean(axis=0)
    # The rows of vt are the principal directions, sorted by the variance they explain.
    _, _, vt = np.linalg.svd(flat_train - mean, full_matrices=False)
    basis = vt[:code_size]
    codes = (flat_test - mean) @ basis.T
    return (codes @ basis + mean).reshape(test.shape)


def reconstruct(model, x):
    model.eval()
    with ember.no_grad():
        return model(x)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--code-size", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figure")
    parser.add_argument("--quick", action="store_true", help="a short run (used by the tests)")
    args = parser.parse_args()
    if args.quick:
        args.epochs = 6
    ember.manual_seed(args.seed)

    x_train, _ = digits("train", test_size=0.2, seed=args.seed)
    x_test, y_test = digits("test", test_size=0.2, seed=args.seed)
    loader = DataLoader(TensorDataset(x_train), batch_size=args.batch_size, shuffle=True)

    # The baseline: the best linear code of the same size.
    pca_test = pca_reconstruct(x_train.numpy(), x_test.numpy(), args.code_size)
    pca_mse = float(np.mean((pca_test - x_test.numpy()) ** 2))

    # The model, the loss, the optimizer and the learning-rate schedule.
    model = make_autoencoder(args.code_size)
    loss_fn = nn.MSELoss()
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)

    # The training loop: the target is the input itself.
    history = {"train": [], "test": []}
    start = time.perf_counter()
    bar = tqdm(range(args.epochs), desc="autoencoder")
    for epoch in bar:
        model.train()
        total, count = 0.0, 0
        for (xb,) in loader:
            loss = loss_fn(model(xb), xb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(xb)
            count += len(xb)
        scheduler.step()
        test_mse = loss_fn(reconstruct(model, x_test), x_test).item()
        history["train"].append(total / count)
        history["test"].append(test_mse)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(train=f"{total / count:.4f}", test=f"{test_mse:.4f}", pca=f"{pca_mse:.4f}")
    elapsed = time.perf_counter() - start

    ae_test = reconstruct(model, x_test)
    ae_mse = loss_fn(ae_test, x_test).item()
    print(f"code size {args.code_size}: autoencoder test MSE {ae_mse:.5f}, PCA test MSE {pca_mse:.5f} "
          f"(ratio {ae_mse / pca_mse:.2f}); {args.epochs} epochs in {elapsed:.1f}s")

    # The figure shows the first test image of each class, 0 to 9.
    shown = [int(np.flatnonzero(y_test.numpy() == k)[0]) for k in range(10)]
    save_figure(x_test.numpy()[shown], ae_test.numpy()[shown], pca_test[shown], history, pca_mse, args.code_size,
                os.path.join(args.out, "autoencoder.png"))
    print(f"RESULT ae_mse={ae_mse:.6f} pca_mse={pca_mse:.6f} ratio={ae_mse / pca_mse:.4f} seconds={elapsed:.1f}")


def save_figure(originals, ae, pca, history, pca_mse, code_size, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no figure")
        return
    columns = len(originals)
    fig = plt.figure(figsize=(12, 3.4))
    grid = fig.add_gridspec(3, columns + 6, wspace=0.08, hspace=0.08)
    rows = [("original", originals), (f"autoencoder\n(code {code_size})", ae), (f"PCA\n({code_size} comp.)", pca)]
    for r, (label, images) in enumerate(rows):
        for c in range(columns):
            ax = fig.add_subplot(grid[r, c])
            ax.imshow(images[c, 0], cmap="gray_r", vmin=0.0, vmax=1.0)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=9)
    ax = fig.add_subplot(grid[:, columns + 1:])
    epochs = np.arange(1, len(history["train"]) + 1)
    ax.plot(epochs, history["train"], label="autoencoder, train")
    ax.plot(epochs, history["test"], label="autoencoder, test")
    ax.axhline(pca_mse, color="C3", linestyle="--", label="PCA, test")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_title("reconstruction MSE")
    ax.yaxis.tick_right()
    ax.legend(fontsize=8)
    fig.suptitle(f"test digits and their reconstructions from {code_size} numbers")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
