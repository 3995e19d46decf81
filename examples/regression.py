"""Regression: fit a line and a cubic two ways, by the normal equations and by gradient descent.

Least squares with an optional ridge penalty on the weights (not on the intercept):

    loss(w) = mean((X w - y)^2) + lam * sum(w[1:]^2)

has the closed-form minimiser  (X^T X + n * lam * D) w = X^T y  with D = diag(0, 1, 1, ...).
We build X^T X and X^T y with ember matmuls and solve the small system with numpy; then we
minimise the same loss with autograd and ember.optim.SGD (momentum) and check that gradient
descent lands on the closed form to 1e-4, with and without ridge. Everything is float64.

    python examples/regression.py            # full run, saves examples/out/regression.png
    python examples/regression.py --quick    # short run used by the tests
"""
import argparse
import os

import numpy as np

import ember
import ember.optim as optim

try:
    from tqdm import trange
except ImportError:  # tqdm is optional: fall back to a plain range
    def trange(n, **kwargs):
        return range(n)


def features(x, degree):
    """Columns 1, x, x^2, ..., x^degree of a (n,) tensor: the design matrix X of shape (n, degree + 1)."""
    return ember.stack([x ** k for k in range(degree + 1)], dim=1)


def ridge_loss(w, X, y, lam):
    return ((X @ w - y) ** 2).mean() + lam * (w[1:] ** 2).sum()


def closed_form(X, y, lam):
    n, d = X.shape
    penalty = np.eye(d)
    penalty[0, 0] = 0.0  # the intercept is not penalised
    A = (X.T @ X).numpy() + n * lam * penalty
    b = (X.T @ y).numpy()
    return np.linalg.solve(A, b)


def gradient_descent(X, y, lam, steps, lr, desc):
    w = ember.zeros(X.shape[1], dtype=ember.float64, requires_grad=True)
    optimizer = optim.SGD([w], lr=lr, momentum=0.95)
    losses = []
    for _ in trange(steps, desc=desc, leave=False):
        loss = ridge_loss(w, X, y, lam)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return w.detach().numpy(), losses


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=60, help="number of data points")
    parser.add_argument("--steps", type=int, default=1500, help="gradient-descent steps per fit")
    parser.add_argument("--lam", type=float, default=1e-2, help="ridge strength")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figure")
    parser.add_argument("--quick", action="store_true", help="a short run (used by the tests)")
    args = parser.parse_args()
    if args.quick:
        args.n, args.steps = 30, 1000
    ember.manual_seed(args.seed)

    # The data: a noisy cubic on [-1, 1].
    x = ember.linspace(-1.0, 1.0, args.n, dtype=ember.float64)
    y = 0.5 - 1.0 * x + 1.5 * x ** 3 + 0.15 * ember.randn(args.n, dtype=ember.float64)

    fits = {}
    worst = 0.0
    for name, degree in (("line", 1), ("cubic", 3)):
        X = features(x, degree)
        for lam in (0.0, args.lam):
            label = f"{name}, lam={lam:g}"
            w_exact = closed_form(X, y, lam)
            w_gd, losses = gradient_descent(X, y, lam, args.steps, lr=0.2, desc=label)
            diff = np.abs(w_gd - w_exact).max()
            worst = max(worst, diff)
            fits[label] = (degree, w_exact, w_gd, losses)
            print(f"{label:18s} closed form {np.array2string(w_exact, precision=4)}")
            print(f"{'':18s} grad descent {np.array2string(w_gd, precision=4)}   max |diff| {diff:.2e}")

    print(f"gradient descent matches the normal equations to {worst:.1e} (target 1e-4)")
    save_figure(x.numpy(), y.numpy(), fits, args.out)
    print(f"RESULT max_abs_diff={worst:.3e}")


def save_figure(x, y, fits, out_dir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no figure")
        return
    fig, (ax, ax_loss) = plt.subplots(1, 2, figsize=(11, 4.5))
    ax.scatter(x, y, s=14, c="k", label="data")
    grid = np.linspace(-1.0, 1.0, 200)
    for (label, (degree, w_exact, w_gd, _)), color in zip(fits.items(), ["C0", "C1", "C2", "C3"]):
        powers = grid[:, None] ** np.arange(degree + 1)
        ax.plot(grid, powers @ w_exact, color=color, lw=3, alpha=0.4, label=f"{label} (normal eq.)")
        ax.plot(grid, powers @ w_gd, color=color, lw=1, ls="--", label=f"{label} (GD)")
    ax.set_title("fits: closed form (thick) vs gradient descent (dashed)")
    ax.legend(fontsize=7)
    for (label, (_, _, _, losses)), color in zip(fits.items(), ["C0", "C1", "C2", "C3"]):
        ax_loss.semilogy(np.array(losses) - min(losses) + 1e-16, color=color, label=label)
    ax_loss.set_xlabel("gradient-descent step")
    ax_loss.set_title("loss - final loss")
    ax_loss.legend(fontsize=8)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "regression.png")
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
