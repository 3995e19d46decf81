"""Denoise and inpaint: a small residual fully-convolutional network restores damaged images.

Two tasks, one architecture (five 3x3 convolutions with BatchNorm and ReLU between them, as in
DnCNN, Zhang et al. 2017), trained from scratch on random 32x32 crops:

    denoising   input: noisy = clean + Gaussian noise (sigma 0.1 on [0, 1] pixels)
                output: noisy + network(noisy)              (the network learns to cancel the noise)
    inpainting  input: damaged = clean with 60% of its pixels set to 0, and the mask of known pixels
                output: damaged + network(damaged, mask)    (the network learns what to fill in)

Both minimise the mean squared error to the clean crop with Adam and a cosine learning-rate
schedule. The training crops come from
scikit-image's bundled sample images (astronaut, coffee, chelsea, coins, moon, page, text, rocket;
generated pictures if scikit-image is missing); the test image, the camera man, is never seen in
training. Prints the PSNR of the damaged and the restored test image for both tasks and saves them
side by side.

    python examples/denoise.py            # full run: denoising gains >= 4 dB PSNR, a few minutes
    python examples/denoise.py --quick    # short run used by the tests
"""
import argparse
import math
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

NOISE_SIGMA = 0.1
MISSING = 0.6  # fraction of pixels the inpainting task hides


def load_images(test_size):
    """Grayscale float32 images in [0, 1]: a list for training and one (test_size, test_size) test image."""
    try:
        from skimage import color, data, transform
    except ImportError:
        print("scikit-image not installed: using generated images")
        return generated_images(test_size)
    gray = lambda im: color.rgb2gray(im) if im.ndim == 3 else im / 255.0  # noqa: E731
    names = ["astronaut", "coffee", "chelsea", "coins", "moon", "page", "text", "rocket"]
    # Halving the large images brings their detail to the scale of the test image's.
    train = [gray(getattr(data, name)()) for name in names]
    train = [transform.rescale(im, 0.5, anti_aliasing=True) if min(im.shape) > 300 else im for im in train]
    test = transform.resize(data.camera() / 255.0, (test_size, test_size), anti_aliasing=True)
    return [im.astype(np.float32) for im in train], test.astype(np.float32)


def generated_images(test_size, count=8):
    """Without scikit-image: random discs and boxes of random greys over smooth gradients."""
    rng = np.random.default_rng(1234)
    size = max(test_size, 128)
    yy, xx = np.mgrid[0:size, 0:size] / size
    images = []
    for _ in range(count + 1):
        im = rng.uniform(0.2, 0.6) + 0.3 * rng.uniform(-1, 1) * xx + 0.3 * rng.uniform(-1, 1) * yy
        for _ in range(12):
            cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.03, 0.2)
            shape = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r if rng.uniform() < 0.5 else \
                (np.abs(xx - cx) < r) & (np.abs(yy - cy) < r)
            im = np.where(shape, rng.uniform(0, 1), im)
        images.append(np.clip(im, 0, 1).astype(np.float32))
    return images[:count], images[count][:test_size, :test_size]


def add_noise(clean, rng):
    """Denoising: (network input, the damaged image to restore from) for clean images (N, 1, H, W)."""
    noisy = clean + rng.normal(0.0, NOISE_SIGMA, clean.shape).astype(np.float32)
    return noisy, noisy


def hide_pixels(clean, rng):
    """Inpainting: the damaged image plus a channel saying which pixels are known (1) or missing (0)."""
    known = (rng.uniform(size=clean.shape) >= MISSING).astype(np.float32)
    damaged = clean * known
    return np.concatenate([damaged, known], axis=1), damaged


def random_crops(images, count, size, rng):
    """`count` random size x size crops, each from a random image, randomly flipped: (count, 1, size, size)."""
    crops = np.empty((count, 1, size, size), dtype=np.float32)
    for i in range(count):
        im = images[rng.integers(len(images))]
        top, left = rng.integers(im.shape[0] - size + 1), rng.integers(im.shape[1] - size + 1)
        crop = im[top:top + size, left:left + size]
        crops[i, 0] = crop[:, ::-1] if rng.uniform() < 0.5 else crop
    return crops


class ResidualCNN(nn.Module):
    """`depth` 3x3 convolutions; the output is the damaged image plus the network's correction."""

    def __init__(self, in_channels, width, depth=5):
        super().__init__()
        layers = [nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU()]
        for _ in range(depth - 2):
            layers += [nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
        layers.append(nn.Conv2d(width, 1, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, x, damaged):
        return damaged + self.body(x)


def psnr(a, b):
    return 10.0 * math.log10(1.0 / float(np.mean((a - b) ** 2)))  # pixels in [0, 1]: peak signal 1


def train_task(name, corrupt, in_channels, train_images, args, rng):
    """Trains one ResidualCNN to undo `corrupt` and returns it."""
    model = ResidualCNN(in_channels, args.width)
    loss_fn = nn.MSELoss()
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    scheduler = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.steps)

    # The training loop: a fresh batch of crops, freshly damaged, at every step.
    losses = []
    model.train()
    bar = tqdm(range(args.steps), desc=name)
    for step in bar:
        clean = random_crops(train_images, args.batch_size, args.crop, rng)
        x, damaged = corrupt(clean, rng)
        restored = model(ember.from_numpy(x), ember.from_numpy(damaged))
        loss = loss_fn(restored, ember.from_numpy(clean))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        if hasattr(bar, "set_postfix") and step % 20 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.2e}")
    model.eval()  # BatchNorm switches to its running statistics
    return model


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=600, help="training steps per task")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--crop", type=int, default=32, help="side of the training crops")
    parser.add_argument("--width", type=int, default=32, help="channels of the hidden convolutions")
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--test-size", type=int, default=256, help="the test image is resized to this")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"),
                        help="folder for the figure")
    parser.add_argument("--quick", action="store_true", help="a short run (used by the tests)")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.batch_size, args.width, args.test_size = 100, 8, 16, 128
    ember.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    train_images, test_image = load_images(args.test_size)
    clean = test_image[None, None]
    tasks = {"denoising": (add_noise, 1), "inpainting": (hide_pixels, 2)}
    results, pictures = {}, {}
    start = time.perf_counter()
    for name, (corrupt, in_channels) in tasks.items():
        model = train_task(name, corrupt, in_channels, train_images, args, rng)
        x, damaged = corrupt(clean, np.random.default_rng(1234))  # the same damage whatever the seed
        with ember.no_grad():
            restored = model(ember.from_numpy(x), ember.from_numpy(damaged)).numpy()
        results[name] = (psnr(damaged, clean), psnr(restored, clean))
        pictures[name] = (damaged[0, 0], restored[0, 0])
        print(f"{name}: test PSNR {results[name][0]:.2f} dB damaged -> {results[name][1]:.2f} dB restored "
              f"(gain {results[name][1] - results[name][0]:.2f} dB)")
    elapsed = time.perf_counter() - start
    print(f"{args.steps} steps per task in {elapsed:.1f}s")

    save_figure(test_image, pictures, results, args.out)
    (noisy, denoised), (holes, inpainted) = results["denoising"], results["inpainting"]
    print(f"RESULT noisy_psnr={noisy:.2f} denoised_psnr={denoised:.2f} gain_db={denoised - noisy:.2f} "
          f"damaged_psnr={holes:.2f} inpainted_psnr={inpainted:.2f} inpaint_gain_db={inpainted - holes:.2f} "
          f"seconds={elapsed:.1f}")


def save_figure(clean, pictures, results, out_dir):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no figure")
        return
    (noisy, denoised), (holes, inpainted) = pictures["denoising"], pictures["inpainting"]
    panels = [(clean, "clean test image (unseen)"),
              (noisy, f"noisy, {results['denoising'][0]:.1f} dB"),
              (denoised, f"denoised, {results['denoising'][1]:.1f} dB"),
              (holes, f"{MISSING:.0%} pixels missing, {results['inpainting'][0]:.1f} dB"),
              (inpainted, f"inpainted, {results['inpainting'][1]:.1f} dB")]
    fig, axes = plt.subplots(1, 5, figsize=(20, 4.6), constrained_layout=True)
    for ax, (picture, title) in zip(axes, panels):
        ax.imshow(np.clip(picture, 0.0, 1.0), cmap="gray", vmin=0.0, vmax=1.0)
        ax.set_title(title)
        ax.axis("off")
    fig.suptitle(f"residual CNN: denoising (Gaussian noise, sigma {NOISE_SIGMA}) and inpainting; "
                 "PSNR to the clean image")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "denoise.png")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    print(f"saved {path}")


if __name__ == "__main__":
    main()
