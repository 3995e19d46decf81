"""Digits (CNN): a small convolutional network with BatchNorm and Dropout on scikit-learn's 8x8 digits.

The same data as digits_mlp.py (sklearn.datasets.load_digits: 1,797 bundled 8x8 images, no
download; 20% held out for testing), but the model sees images, not flat vectors:

    conv 3x3 (1 -> 32) - BatchNorm - ReLU - conv 3x3 (32 -> 32) - BatchNorm - ReLU - maxpool 2   8x8 -> 4x4
    conv 3x3 (32 -> 64) - BatchNorm - ReLU - maxpool 2                                           4x4 -> 2x2
    flatten (256) - Dropout - Linear(256, 10)

trained with cross-entropy and Adam under a cosine learning-rate schedule. Prints the test
accuracy, saves the loss and accuracy curves, and saves the trained classifier with ember.save
(other examples load it to score generated digits).

    python examples/digits_cnn.py            # full run: test accuracy >= 98.5%, well under a minute
    python examples/digits_cnn.py --quick    # short run used by the tests
"""
import argparse
import os
import subprocess
import sys
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


def make_model(dropout=0.3):
    return nn.Sequential(
        nn.Conv2d(1, 32, kernel_size=3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.Conv2d(32, 32, kernel_size=3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, kernel_size=3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(64 * 2 * 2, 10),
    )


def load_or_train(path, quick=False, seed=0):
    """The classifier this script saved at `path`, in eval mode. If there is none yet, runs this
    script (with --quick when asked) to train and save it first. gan.py and feature_viz.py use it."""
    if os.path.exists(path):
        print(f"classifier: {path} (trained by digits_cnn.py)")
    else:
        print(f"classifier: {path} not found; training it with digits_cnn.py{' --quick' if quick else ''}:")
        command = [sys.executable, os.path.abspath(__file__), "--seed", str(seed),
                   "--save", path, "--out", os.path.dirname(os.path.abspath(path))] + (["--quick"] if quick else [])
        # Its output is indented under the caller's, so that its RESULT line is not taken for the caller's.
        trained = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
        print("\n".join("    " + line for line in trained.stdout.splitlines()))
    model = make_model()
    model.load_state_dict(ember.load(path))
    return model.eval()


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
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    default_out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "out")
    parser.add_argument("--out", default=default_out, help="folder for the figure and (by default) the weights")
    parser.add_argument("--save", default=None,
                        help="where to save the trained classifier (default: OUT/digits_cnn.safetensors)")
    parser.add_argument("--quick", action="store_true", help="a short run (used by the tests)")
    args = parser.parse_args()
    if args.quick:
        args.epochs = 3
    save_path = args.save or os.path.join(args.out, "digits_cnn.safetensors")
    ember.manual_seed(args.seed)

    x_train, y_train, x_test, y_test = load_split(args.seed)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=args.batch_size, shuffle=True)

    # The model, the loss, the optimizer and the learning-rate schedule.
    model = make_model()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)

    # The training loop: one pass over the training set per epoch, then a test evaluation.
    history = {"train_loss": [], "test_loss": [], "test_acc": []}
    start = time.perf_counter()
    bar = tqdm(range(args.epochs), desc="digits_cnn")
    for epoch in bar:
        model.train()  # BatchNorm uses batch statistics, Dropout drops
        total, count = 0.0, 0
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
            count += len(yb)
        scheduler.step()
        test_loss, test_acc = evaluate(model, loss_fn, x_test, y_test)  # eval(): running stats, no dropout
        history["train_loss"].append(total / count)
        history["test_loss"].append(test_loss)
        history["test_acc"].append(test_acc)
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{total / count:.3f}", test_acc=f"{test_acc:.3f}")
    elapsed = time.perf_counter() - start

    _, acc = evaluate(model, loss_fn, x_test, y_test)
    print(f"CNN: {args.epochs} epochs in {elapsed:.1f}s; test accuracy {acc:.4f} "
          f"({round((1 - acc) * len(y_test))} of {len(y_test)} test digits wrong)")

    # Save the classifier, then load it into a fresh model to show the round trip.
    os.makedirs(os.path.dirname(os.path.abspath(save_path)), exist_ok=True)
    ember.save(model.state_dict(), save_path)
    reloaded = make_model()
    reloaded.load_state_dict(ember.load(save_path))
    _, reloaded_acc = evaluate(reloaded, loss_fn, x_test, y_test)
    print(f"saved {save_path}; reloaded model's test accuracy {reloaded_acc:.4f}")

    save_curves(history, "digits CNN", os.path.join(args.out, "digits_cnn.png"))
    print(f"RESULT accuracy={acc:.4f} reloaded_accuracy={reloaded_acc:.4f} seconds={elapsed:.1f}")


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
