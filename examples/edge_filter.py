"""Edge filter: gradient descent learns the 3x3 convolution kernels of the Sobel edge detector.

A convolution is a linear map, so a Conv2d(1, 2, 3, bias=False) shown an image and its Sobel
gradients (computed here with numpy, independently of ember) has a unique best kernel pair: the
Sobel kernels themselves,

    Sobel x = [[-1, 0, 1],      Sobel y = Sobel x transposed
               [-2, 0, 2],
               [-1, 0, 1]]

The loss is the mean squared error between the layer's output and the numpy gradients, minimised
by gradient descent with momentum over the whole image at each step. The image is scikit-image's
camera man (skimage.data.camera, bundled with scikit-image; a generated picture of shapes if
scikit-image is missing). Prints both kernel pairs and their largest difference; saves the image,
the target and learned edges, the learned kernels and the loss curve.

    python examples/edge_filter.py            # full run: learned kernels within 1e-3 of Sobel, a few seconds
    python examples/edge_filter.py --quick    # short run used by the tests
"""
import argparse
import os
import time

import numpy as np

import ember
import ember.nn as nn
import ember.optim as optim

try:
    from tqdm import tqdm
except ImportError:  # tqdm is optional: fall back to the plain iterator
    def tqdm(iterable, **kwargs):
        return iterable

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)
SOBEL_Y = SOBEL_X.T.copy()


def load_image(size):
    """A grayscale image in [0, 1] of shape (size, size), float32."""
    try:
        from skimage import data, transform
        return transform.resize(data.camera(), (size, size), anti_aliasing=True).astype(np.float32)
    except ImportError:
        # Without scikit-image: a disc, a square and a smooth ramp give edges in every direction.
        print("scikit-image not installed: using a generated image")
        yy, xx = np.mgrid[0:size, 0:size] / size
        image = 0.3 * xx + 0.5 * ((xx - 0.35) ** 2 + (yy - 0.4) ** 2 < 0.05)
        image += 0.4 * ((np.abs(xx - 0.7) < 0.15) & (np.abs(yy - 0.7) < 0.15))
        return image.astype(np.float32)


def correlate_valid(image, kernel):
    """3x3 cross-correlation without padding, the convention of Conv2d: out[i, j] = sum k[a, b] * x[i+a, j+b]."""
    h, w = image.shape
    out = np.zeros((h - 2, w - 2), dtype=np.float64)
    for a in range(3):
        for b in range(3):
            out += kernel[a, b] * image[a:a + h - 2, b:b + w - 2]
    return out.astype(np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256, help="the image is resized to size x size")
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--lr", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figure")
    parser.add_argument("--quick", action="store_true", help="a short run (used by the tests)")
    args = parser.parse_args()
    if args.quick:
        args.size, args.steps = 128, 1000
    ember.manual_seed(args.seed)

    # The data: one image (as a batch of one, one channel) and its two Sobel gradients as the target.
    # Standardising the image (zero mean, unit variance) rounds the loss surface, whose Hessian is
    # the 9x9 second-moment matrix of the image's 3x3 patches: on the 256x256 camera man its
    # condition number drops from about 13,000 to 3,200, so gradient descent needs far fewer steps.
    image = load_image(args.size)
    image = (image - image.mean()) / image.std()
    target_np = np.stack([correlate_valid(image, SOBEL_X), correlate_valid(image, SOBEL_Y)])
    x = ember.from_numpy(image[None, None])
    target = ember.from_numpy(target_np[None])

    # The model: one 3x3 convolution from 1 channel to 2, starting from random weights. No bias:
    # Sobel has none. The loss: mean squared error, a convex quadratic in the 18 weights, so plain
    # gradient descent with momentum converges to the one minimum.
    conv = nn.Conv2d(1, 2, kernel_size=3, bias=False)
    loss_fn = nn.MSELoss()
    optimizer = optim.SGD(conv.parameters(), lr=args.lr, momentum=0.9)

    # The training loop: full-batch gradient descent on the one image.
    losses = []
    start = time.perf_counter()
    bar = tqdm(range(args.steps), desc="edge_filter")
    for step in bar:
        loss = loss_fn(conv(x), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if hasattr(bar, "set_postfix") and step % 20 == 0:
            bar.set_postfix(loss=f"{losses[-1]:.2e}")
    elapsed = time.perf_counter() - start

    learned = conv.weight.detach().numpy()[:, 0]  # (2, 3, 3): the x and y kernels
    sobel = np.stack([SOBEL_X, SOBEL_Y])
    max_diff = float(np.abs(learned - sobel).max())
    with np.printoptions(precision=5, suppress=True):
        for name, k in (("x", 0), ("y", 1)):
            print(f"Sobel {name}:\n{sobel[k]}\nlearned {name}:\n{learned[k]}")
    print(f"{args.steps} steps on a {args.size}x{args.size} image in {elapsed:.1f}s; final loss {losses[-1]:.2e}; "
          f"max |learned - Sobel| = {max_diff:.2e}")

    with ember.no_grad():
        edges = conv(x).numpy()[0]
    save_figure(image, target_np, edges, learned, losses, max_diff, args.out)
    print(f"RESULT max_abs_diff={max_diff:.3e} loss={losses[-1]:.3e} seconds={elapsed:.1f}")


def save_figure(image, target, edges, learned, losses, max_diff, out_dir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no figure")
        return
    fig, axes = plt.subplots(1, 5, figsize=(21, 4), gridspec_kw={"width_ratios": [1, 1, 1, 1.5, 1.2]})
    magnitude = lambda g: np.hypot(g[0], g[1])  # noqa: E731  (edge strength from the two gradients)
    vmax = np.percentile(magnitude(target), 99.5)  # a few very strong edges would dim all the others
    panels = [(image, "input image (standardised)", None), (magnitude(target), "Sobel edges (numpy)", vmax),
              (magnitude(edges), "learned conv's edges", vmax)]
    for ax, (picture, title, top) in zip(axes, panels):
        ax.imshow(picture, cmap="gray", vmin=0 if top else None, vmax=top)
        ax.set_title(title)
        ax.axis("off")
    # The two learned kernels side by side, each weight written in its cell.
    kernels = np.concatenate([learned[0], np.full((3, 1), np.nan), learned[1]], axis=1)
    axes[3].imshow(kernels, cmap="coolwarm", vmin=-2.2, vmax=2.2)
    for (i, j), value in np.ndenumerate(kernels):
        if not np.isnan(value):
            axes[3].text(j, i, f"{np.round(value, 3) + 0.0:.3f}", ha="center", va="center", fontsize=10)
    axes[3].set_title(f"learned kernels x | y\n(max diff to Sobel {max_diff:.1e})")
    axes[3].axis("off")
    axes[4].plot(losses)
    axes[4].set_yscale("log")
    axes[4].set_xlabel("step")
    axes[4].set_title("MSE loss")
    axes[4].grid(alpha=0.3)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "edge_filter.png")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
