"""VAE: a variational autoencoder on 8x8 digits, trained by maximising the evidence lower bound (ELBO).

Kingma and Welling's model (2014) on scikit-learn's bundled digits (1,797 images, no download; 20%
held out). The encoder maps an image x to a Gaussian q(z|x) = N(mu, diag(sigma^2)) over a LATENT-
dimensional code; the decoder maps a code z to 64 Bernoulli pixel probabilities p(x|z). The
ELBO of one image is

    ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || N(0, I))                  <= log p(x)
            = -BCE(decoder(z), x)  -  0.5 * sum(mu^2 + sigma^2 - 1 - log sigma^2),   z ~ q(z|x)

The expectation is estimated with one sample drawn by the reparameterisation trick,
z = mu + sigma * eps with eps ~ N(0, I), so that the sample is a differentiable function of the
encoder's outputs and the gradient flows through it. (The digits' grey levels serve as soft
Bernoulli targets, as in the usual MNIST examples.) Both networks are MLPs
(64 - 256 - 128 - mu, log sigma^2 and back), trained on the negative ELBO with Adam under a
cosine learning-rate schedule.

Prints the ELBO per image (in nats) on the training and test sets, measured after every epoch,
and checks that the training ELBO, smoothed with a moving average, rises from epoch to epoch: at
the end of the cosine schedule the steps are tiny and the curve flat, so a fall of less than
0.01 nats (a four-hundredth of what training gains) counts as flat, not as a fall. Saves a
figure of digits sampled from the prior N(0, I), of straight-line interpolations in latent space
between pairs of test digits, and of the ELBO curve.

    python examples/vae.py            # full run: ELBO -28.4 -> -24.2 nats, rising every epoch (smoothed), ~10 s
    python examples/vae.py --quick    # short run used by the tests
"""
import argparse
import os
import time

import numpy as np

import ember
import ember.nn as nn
import ember.nn.functional as F
import ember.optim as optim
from ember.datasets import digits
from ember.utils.data import DataLoader, TensorDataset

try:
    from tqdm import tqdm
except ImportError:  # tqdm is optional: fall back to the plain iterator
    def tqdm(iterable, **kwargs):
        return iterable


class VAE(nn.Module):
    def __init__(self, latent=8, pixels=64):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(pixels, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU())
        self.to_mu = nn.Linear(128, latent)
        self.to_logvar = nn.Linear(128, latent)  # log sigma^2: any real number is a valid variance
        self.decoder = nn.Sequential(nn.Linear(latent, 128), nn.ReLU(), nn.Linear(128, 256), nn.ReLU(),
                                     nn.Linear(256, pixels))  # logits of the pixel probabilities

    def encode(self, x):
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h)

    def reparameterize(self, mu, logvar, eps=None):
        if eps is None:
            eps = ember.randn_like(mu)  # the randomness is an input, so z is differentiable in mu and logvar
        return mu + (0.5 * logvar).exp() * eps

    def forward(self, x, eps=None):
        mu, logvar = self.encode(x)
        return self.decoder(self.reparameterize(mu, logvar, eps)), mu, logvar


def negative_elbo(logits, x, mu, logvar):
    """-ELBO summed over pixels and latent dimensions, averaged over the batch (nats per image)."""
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * (1.0 + logvar - mu * mu - logvar.exp()).sum()
    return (reconstruction + kl) / x.shape[0]


def elbo(model, x, eps):
    """The ELBO per image of the whole set x, estimated with the given noise eps (one row per image)."""
    model.eval()
    with ember.no_grad():
        logits, mu, logvar = model(x, eps)
        return -negative_elbo(logits, x, mu, logvar).item()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latent", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=80)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--smooth", type=int, default=5, help="moving-average window for the monotonicity check")
    parser.add_argument("--tolerance", type=float, default=0.01, help="a smaller fall (nats) counts as flat")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figure")
    parser.add_argument("--quick", action="store_true", help="a short run (used by the tests)")
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.smooth = 15, 3
    ember.manual_seed(args.seed)

    # Flat 64-pixel vectors in [0, 1]: the decoder's Bernoulli probabilities are fitted to them.
    x_train, _ = digits("train", test_size=0.2, seed=args.seed)
    x_test, y_test = digits("test", test_size=0.2, seed=args.seed)
    x_train, x_test = x_train.reshape(-1, 64), x_test.reshape(-1, 64)
    loader = DataLoader(TensorDataset(x_train), batch_size=args.batch_size, shuffle=True)

    model = VAE(args.latent)
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    # Cosine decay of the step size: late epochs take small steps, so the ELBO settles instead of jittering.
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs)

    # Progress is measured after each epoch on the whole training and test sets, always with the
    # same noise draws (common random numbers), so that the change from one epoch to the next is the
    # model's and not the luck of a fresh sample.
    eps_train, eps_test = ember.randn(len(x_train), args.latent), ember.randn(len(x_test), args.latent)

    # The training loop: one reparameterised sample per image, gradient step on -ELBO.
    history = {"train": [], "test": []}
    start = time.perf_counter()
    bar = tqdm(range(args.epochs), desc="vae")
    for epoch in bar:
        model.train()
        total, count = 0.0, 0
        for (xb,) in loader:
            logits, mu, logvar = model(xb)
            loss = negative_elbo(logits, xb, mu, logvar)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(xb)
            count += len(xb)
        scheduler.step()
        history["train"].append(elbo(model, x_train, eps_train))
        history["test"].append(elbo(model, x_test, eps_test))
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(batch_mean=f"{-total / count:.2f}", train_elbo=f"{history['train'][-1]:.2f}",
                            test_elbo=f"{history['test'][-1]:.2f}")
    elapsed = time.perf_counter() - start

    # The check: the smoothed per-epoch training ELBO never falls (by more than the tolerance).
    smoothed = np.convolve(history["train"], np.ones(args.smooth) / args.smooth, mode="valid")
    steps = np.diff(smoothed)
    largest_fall = max(0.0, float(-steps.min()))
    monotone = largest_fall < args.tolerance
    print(f"{args.epochs} epochs in {elapsed:.1f}s: training ELBO {history['train'][0]:.2f} -> "
          f"{history['train'][-1]:.2f} nats per image, test ELBO {history['test'][-1]:.2f}")
    print(f"moving average over {args.smooth} epochs: rises at {(steps > 0).sum()} of {len(steps)} steps, "
          f"largest fall {largest_fall:.4f} nats (tolerance {args.tolerance}): "
          + ("monotone" if monotone else f"NOT monotone, falls after epoch {int(np.argmin(steps)) + args.smooth}"))

    save_figure(model, x_test.numpy(), y_test.numpy(), history, smoothed, args.smooth,
                os.path.join(args.out, "vae.png"))
    print(f"RESULT train_elbo_first={history['train'][0]:.3f} train_elbo_last={history['train'][-1]:.3f} "
          f"test_elbo={history['test'][-1]:.3f} largest_fall={largest_fall:.4f} monotone={int(monotone)} "
          f"seconds={elapsed:.1f}")


def save_figure(model, x_test, y_test, history, smoothed, window, path, samples=10, steps=10):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no figure")
        return
    latent = model.to_mu.out_features
    with ember.no_grad():
        # Samples: codes drawn from the prior, decoded to pixel probabilities.
        prior = model.decoder(ember.randn(samples * samples, latent)).sigmoid().numpy()
        # Interpolations: from the mean code of the first test 0 to that of the first 1, 2 to 3, and so on.
        pairs = [(a, a + 1) for a in range(0, 10, 2)]
        ends = [int(np.flatnonzero(y_test == d)[0]) for pair in pairs for d in pair]
        mu, _ = model.encode(ember.from_numpy(np.ascontiguousarray(x_test[ends])))
        mu = mu.numpy().reshape(len(pairs), 2, latent)
        t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
        path_codes = (1 - t) * mu[:, :1] + t * mu[:, 1:]  # (pairs, steps, latent)
        between = model.decoder(ember.from_numpy(np.ascontiguousarray(path_codes.reshape(-1, latent))))
        between = between.sigmoid().numpy().reshape(len(pairs), steps, 8, 8)

    def mosaic(images, rows, cols):  # (rows*cols, 8, 8) -> one image with 1-pixel white gaps
        canvas = np.zeros((rows * 9 + 1, cols * 9 + 1))
        for i, img in enumerate(images.reshape(-1, 8, 8)):
            r, c = divmod(i, cols)
            canvas[1 + 9 * r:9 + 9 * r, 1 + 9 * c:9 + 9 * c] = img
        return canvas

    fig, (ax_s, ax_i, ax_e) = plt.subplots(1, 3, figsize=(15, 4.6), gridspec_kw={"width_ratios": [1, 1, 1.1]})
    ax_s.imshow(mosaic(prior, samples, samples), cmap="gray_r", vmin=0, vmax=1)
    ax_s.set_title(f"samples: z ~ N(0, I), {latent}-d")
    ax_i.imshow(mosaic(between, len(pairs), steps), cmap="gray_r", vmin=0, vmax=1)
    ax_i.set_title("interpolation between encoded test digits")
    ax_i.set_yticks([4.5 + 9 * r for r in range(len(pairs))], [f"{a} -> {b}" for a, b in pairs])
    for ax in (ax_s, ax_i):
        ax.set_xticks([])
        if ax is ax_s:
            ax.set_yticks([])
    epochs = np.arange(1, len(history["train"]) + 1)
    ax_e.plot(epochs, history["train"], color="C0", alpha=0.4, label="train")
    ax_e.plot(epochs[window - 1:], smoothed, color="C0", label=f"train, moving average of {window}")
    ax_e.plot(epochs, history["test"], color="C1", label="test")
    ax_e.set_xlabel("epoch")
    ax_e.set_title("ELBO (nats per image)")
    ax_e.grid(alpha=0.3)
    ax_e.legend()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
