"""Spiral: a small MLP separates three interleaved spiral arms in the plane.

The data are generated here (the classic CS231n "spiral" set): class k is a noisy arm
r = t, angle = 4k + 4t (t in [0, 1]), so no linear boundary can split them. Model:
Linear(2, 64) -> ReLU -> Linear(64, 64) -> ReLU -> Linear(64, 3), trained with cross-entropy
and Adam on mini-batches from a DataLoader. Saves a picture of the learned decision regions.

    python examples/spiral.py            # full run: train accuracy >= 99%
    python examples/spiral.py --quick    # short run used by the tests
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


def make_spiral(points_per_class, classes, noise, rng):
    """Returns X of shape (classes * points_per_class, 2) float32 and y of int64 labels."""
    xs, ys = [], []
    for k in range(classes):
        t = np.linspace(0.0, 1.0, points_per_class)
        angle = 4.0 * k + 4.0 * t + rng.normal(0.0, noise, points_per_class)
        xs.append(np.stack([t * np.sin(angle), t * np.cos(angle)], axis=1))
        ys.append(np.full(points_per_class, k))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def accuracy(model, x, y):
    with ember.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=200, help="points per class")
    parser.add_argument("--epochs", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figure")
    parser.add_argument("--quick", action="store_true", help="a short run (used by the tests)")
    args = parser.parse_args()
    if args.quick:
        args.points, args.epochs = 100, 40
    ember.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    # The data: three spiral arms, wrapped in a Dataset and a shuffling DataLoader.
    x_np, y_np = make_spiral(args.points, 3, noise=0.2, rng=rng)
    x, y = ember.from_numpy(x_np), ember.from_numpy(y_np)
    loader = DataLoader(TensorDataset(x, y), batch_size=args.batch_size, shuffle=True)

    # The model, the loss and the optimizer.
    model = nn.Sequential(
        nn.Linear(2, 64), nn.ReLU(),
        nn.Linear(64, 64), nn.ReLU(),
        nn.Linear(64, 3),
    )
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=args.lr)

    # The training loop.
    start = time.perf_counter()
    bar = tqdm(range(args.epochs), desc="spiral")
    for epoch in bar:
        model.train()
        for xb, yb in loader:
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if hasattr(bar, "set_postfix") and epoch % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", acc=f"{accuracy(model, x, y):.3f}")
    elapsed = time.perf_counter() - start

    model.eval()
    acc = accuracy(model, x, y)
    print(f"trained {args.epochs} epochs on {len(y_np)} points in {elapsed:.1f}s; train accuracy {acc:.4f}")
    save_figure(model, x_np, y_np, acc, args.out)
    print(f"RESULT accuracy={acc:.4f}")


def save_figure(model, x_np, y_np, acc, out_dir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no figure")
        return
    # Classify every point of a fine grid and colour it by the predicted class.
    grid = np.linspace(-1.2, 1.2, 300, dtype=np.float32)
    gx, gy = np.meshgrid(grid, grid)
    points = ember.from_numpy(np.stack([gx.ravel(), gy.ravel()], axis=1))
    with ember.no_grad():
        regions = model(points).argmax(dim=1).numpy().reshape(gx.shape)
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    ax.contourf(gx, gy, regions, levels=[-0.5, 0.5, 1.5, 2.5], colors=["#c6dbef", "#fdd0a2", "#c7e9c0"])
    ax.scatter(x_np[:, 0], x_np[:, 1], c=y_np, cmap=matplotlib.colors.ListedColormap(["#2171b5", "#d94801", "#238b45"]),
               s=10, edgecolors="k", linewidths=0.3)
    ax.set_title(f"spiral: MLP decision regions (train accuracy {acc:.1%})")
    ax.set_aspect("equal")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "spiral.png")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
