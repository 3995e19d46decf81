"""XOR: a two-layer network learns a function that no linear classifier can.

The four points (0,0)->0, (0,1)->1, (1,0)->1, (1,1)->0 cannot be split by one line, so the
network needs a hidden layer. Model: Linear(2, 8) -> Tanh -> Linear(8, 1) -> Sigmoid, trained
with binary cross-entropy and plain SGD on the whole (four-point) data set every step.

    python examples/xor.py            # full run: loss < 0.01, all four outputs correct
    python examples/xor.py --quick    # short run used by the tests
"""
import argparse

import ember
import ember.nn as nn
import ember.optim as optim

try:
    from tqdm import trange
except ImportError:  # tqdm is optional: fall back to a plain range
    def trange(n, **kwargs):
        return range(n)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--lr", type=float, default=1.0)
    parser.add_argument("--hidden", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a short run (used by the tests)")
    args = parser.parse_args()
    steps = 200 if args.quick else args.steps
    ember.manual_seed(args.seed)

    # The data: all four input pairs and their XOR.
    x = ember.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = ember.tensor([[0.0], [1.0], [1.0], [0.0]])

    # The model, the loss and the optimizer.
    model = nn.Sequential(
        nn.Linear(2, args.hidden),
        nn.Tanh(),
        nn.Linear(args.hidden, 1),
        nn.Sigmoid(),
    )
    loss_fn = nn.BCELoss()
    optimizer = optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)

    # The training loop: forward, loss, backward, step.
    bar = trange(steps, desc="xor")
    for step in bar:
        out = model(x)
        loss = loss_fn(out, y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if hasattr(bar, "set_postfix") and step % 50 == 0:
            bar.set_postfix(loss=f"{loss.item():.4f}")

    with ember.no_grad():
        out = model(x)
        final_loss = loss_fn(out, y).item()
    preds = out.flatten().tolist()
    targets = y.flatten().tolist()
    correct = sum((p > 0.5) == (t > 0.5) for p, t in zip(preds, targets))
    for (a, b), p, t in zip(x.tolist(), preds, targets):
        print(f"  {a:.0f} xor {b:.0f} = {t:.0f}   network says {p:.4f}")
    print(f"final loss {final_loss:.5f}; {correct}/4 outputs on the right side of 0.5")
    print(f"RESULT accuracy={correct / 4:.4f} loss={final_loss:.6f}")


if __name__ == "__main__":
    main()
