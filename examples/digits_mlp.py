"""Digits (MLP): classify scikit-learn's bundled 8x8 handwritten digits with a multilayer perceptron.

sklearn.datasets.load_digits ships 1,797 grey 8x8 images (pixel values 0..16) with the
library, so nothing is downloaded. We hold out 20% as a test set, flatten each image to 64
numbers, and train Linear(64, 256) -> ReLU -> Dropout -> Linear(256, 128) -> ReLU -> Linear(128, 10)
with cross-entropy and Adam under a cosine learning-rate schedule. Saves the loss and accuracy
curves. Compare with digits_cnn.py.

    python examples/digits_mlp.py            # full run: test accuracy >= 97%
    python examples/digits_mlp.py --quick    # short run used by the tests
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


def load_split(seed):
    """Train/test tensors: images scaled to [0, 1], shape (N, 1, 8, 8) float32; labels int64."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    x_train, x_test, y_train, y_test = train_test_split(
        images, digits.target.astype(np.int64), test_size=0.2, random_state=seed, stratify=digits.target)
    return [ember.from_numpy(np.ascontiguousarray(a)) for a in (x_train, y_train, x_test, y_test)]


def evaluate(model, loss_fn, x, y):
    model.eval()
    with ember.no_grad():
        logits = model(x)
        return loss_fn(logits, y).item(), (logits.argmax(dim=1) == y).float().mean().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figure")
    parser.add_argument("--quick", action="store_true", help="a short run (used by the tests)")
    args = parser.parse_args()
    if args.quick:
        args.epochs = 8
    ember.manual_seed(args.seed)

    x_train, y_train, x_test, y_test = load_split(args.seed)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size, shuffle=True)

    # The model, the loss and the optimizer.
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, 256), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(256, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)

    # The training loop: one pass over the training set per epoch, then a test evaluation.
    history = {"train_loss": [], "test_loss": [], "test_acc": []}
    start = time.perf_counter()
    bar = tqdm(range(args.epochs), desc="digits_mlp")
    for epoch in bar:
        model.train()
        total, count = 0.0, 0
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
            count += len(yb)
        scheduler.step()
        test_loss, test_acc = evaluate(model, loss_fn, x_test, y_test)
        history["train_loss"].append(total / count)
        history["test_loss"].append(test_loss)
        history["test_acc"].append(test_acc)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{total / count:.3f}", test_acc=f"{test_acc:.3f}")
    elapsed = time.perf_counter() - start

    _, acc = evaluate(model, loss_fn, x_test, y_test)
    print(f"MLP: {args.epochs} epochs in {elapsed:.1f}s; test accuracy {acc:.4f} "
          f"({round((1 - acc) * len(y_test))} of {len(y_test)} test digits wrong)")
    save_curves(history, "digits MLP", os.path.join(args.out, "digits_mlp.png"))
    print(f"RESULT accuracy={acc:.4f}")


def save_curves(history, title, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no figure")
        return
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, history["train_loss"], label="train")
    ax_loss.plot(epochs, history["test_loss"], label="test")
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_title(f"{title}: cross-entropy loss")
    ax_loss.legend()
    ax_acc.plot(epochs, history["test_acc"], color="C1")
    ax_acc.set_xlabel("epoch")
    ax_acc.set_title(f"{title}: test accuracy (final {history['test_acc'][-1]:.1%})")
    ax_acc.set_ylim(max(0.0, min(history["test_acc"]) - 0.02), 1.0)
    ax_acc.grid(alpha=0.3)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
