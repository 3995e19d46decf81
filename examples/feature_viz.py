"""Feature visualisation: which input does the digits CNN find most like each digit?

Activation maximisation (Erhan et al. 2009; Simonyan et al. 2013): keep the trained classifier
fixed and run gradient ascent on the *input* instead of the weights. Ten 8x8 images start as the
average digit, and image k is changed to raise the classifier's score (logit) for class k:

    loss = -logit_k(classifier(jitter(x))) + l2 * mean(x^2)

Left alone, the ascent finds high-frequency patterns that fool the network but look like nothing
(adversarial noise). The usual regularisers (Olah et al. 2017, "Feature Visualization") keep the
images plausible: pixels stay in [0, 1] like the real digits (clamp after every step); a random
1-pixel shift per step (jitter) means no single-pixel trick survives; a light Gaussian blur every
few steps removes what is left of the high frequencies; and the L2 term keeps a pixel dark unless
it helps. Starting from the average digit rather than from noise matters for one class: a blank
image already looks like a "1" to the network, and from noise the ascent only erases ink.

The classifier is the one digits_cnn.py trains (--classifier; trained here first, by running
digits_cnn.py, if the file is missing). Prints the probability the classifier gives each image's
class and saves the ten images above the mean real digit of each class.

    python examples/feature_viz.py            # full run: each image scores its class >= 0.9
    python examples/feature_viz.py --quick    # short run used by the tests
"""
import argparse
import os
import time

import numpy as np

import ember
import ember.nn as nn
import ember.nn.functional as F
import ember.optim as optim

try:
    from tqdm import tqdm
except ImportError:  # tqdm is optional: fall back to the plain iterator
    def tqdm(iterable, **kwargs):
        return iterable

import digits_cnn  # the classifier: load_or_train(); this script's folder is on sys.path

HERE = os.path.dirname(os.path.abspath(__file__))


def gaussian_blur(x, sigma):
    """x (N, 1, H, W) convolved with a 3x3 Gaussian of standard deviation `sigma` (zero padding)."""
    g = np.exp(-np.arange(-1, 2) ** 2 / (2 * sigma ** 2))
    kernel = np.outer(g, g) / np.outer(g, g).sum()
    return F.conv2d(x, ember.from_numpy(kernel.astype(np.float32)).reshape(1, 1, 3, 3), padding=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--l2", type=float, default=5.0, help="weight of the mean(x^2) penalty")
    parser.add_argument("--blur-every", type=int, default=4, help="blur the images every this many steps")
    parser.add_argument("--blur-sigma", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(HERE, "out"), help="folder for the figure")
    parser.add_argument("--classifier", default=None,
                        help="digits_cnn.py's saved classifier (default: OUT/digits_cnn.safetensors)")
    parser.add_argument("--quick", action="store_true", help="a short run (used by the tests)")
    args = parser.parse_args()
    if args.quick:
        args.steps = 150
    ember.manual_seed(args.seed)
    classifier = digits_cnn.load_or_train(args.classifier or os.path.join(args.out, "digits_cnn.safetensors"),
                                 args.quick, args.seed)
    for p in classifier.parameters():  # the network is fixed: only the input learns
        p.requires_grad_(False)

    # What is learnt: ten input images, image k for class k, all starting as the average digit.
    from sklearn.datasets import load_digits
    digits = load_digits()
    average_digit = ember.from_numpy((digits.images.mean(axis=0) / 16.0).astype(np.float32))
    images = nn.Parameter(average_digit.expand(10, 1, 8, 8).clone())
    classes = ember.arange(10)
    optimizer = optim.Adam([images], lr=args.lr)

    # The loop: gradient ascent on the class scores (descent on their negative), then the regularisers.
    start = time.perf_counter()
    bar = tqdm(range(args.steps), desc="feature_viz")
    for step in bar:
        shift = tuple(ember.randint(-1, 2, (2,)).tolist())  # jitter: up to one pixel each way
        logits = classifier(ember.roll(images, shifts=shift, dims=(2, 3)))
        loss = -logits[classes, classes].mean() + args.l2 * (images ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        with ember.no_grad():
            # No blur in the last steps, so that the images scored are ones the ascent has adapted to.
            if step % args.blur_every == 0 and step < args.steps - args.blur_every:
                images.copy_(gaussian_blur(images, args.blur_sigma))
            images.clamp_(0.0, 1.0)
        if hasattr(bar, "set_postfix") and step % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    elapsed = time.perf_counter() - start

    # Score the final, unshifted images.
    with ember.no_grad():
        probs = F.softmax(classifier(images), dim=1)
    own = probs.numpy()[np.arange(10), np.arange(10)]
    print(f"feature_viz: {args.steps} steps in {elapsed:.1f}s; probability of the intended class: "
          + " ".join(f"{k}:{p:.3f}" for k, p in enumerate(own)))

    class_means = np.stack([digits.images[digits.target == k].mean(axis=0) / 16.0 for k in range(10)])
    save_figure(images.detach().numpy()[:, 0], own, class_means, os.path.join(args.out, "feature_viz.png"))
    print(f"RESULT min_probability={own.min():.4f} mean_probability={own.mean():.4f} seconds={elapsed:.1f}")


def save_figure(images, own, class_means, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no figure")
        return
    fig, axes = plt.subplots(2, 10, figsize=(12, 3.0))
    for k in range(10):
        axes[0, k].imshow(images[k], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
        axes[0, k].set_title(f"{k}: p={own[k]:.2f}", fontsize=9)
        axes[1, k].imshow(class_means[k], cmap="gray_r", vmin=0, vmax=1, interpolation="nearest")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("maximises\nclass", fontsize=9)
    axes[1, 0].set_ylabel("mean of\nreal digits", fontsize=9)
    fig.suptitle("inputs the digits CNN scores highest for each class (gradient ascent on the input)")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
