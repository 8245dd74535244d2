#!/usr/bin/env python3
"""Trains a CNN written as a Python nn.Module subclass on Fashion-MNIST (Debian's
dataset-fashion-mnist), with the main job's model and recipe (examples/train_fashion_mnist.cpp:
conv-relu-pool x2, fc-relu-dropout-fc; AdamW lr 2e-3, weight decay 1e-4, cosine schedule,
batch 128), and prints test accuracy and time per epoch.

    PYTHONPATH=build/python python3 examples/python/train_fashion_mnist.py [--epochs N]
"""
import argparse
import json
import time

import numpy as np

import neural_arch as na
import neural_arch.nn.functional as F


class CNN(na.nn.Module):
    """(N,1,28,28) -> (N,32,14,14) -> (N,64,7,7) -> (N,3136) -> (N,128) -> (N,10) logits."""

    def __init__(self):
        super().__init__()
        self.conv1 = na.nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = na.nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = na.nn.Linear(64 * 7 * 7, 128)
        self.fc2 = na.nn.Linear(128, 10)
        self.dropout = na.nn.Dropout(0.5)

    def forward(self, x):
        # relu(max_pool(c)) == max_pool(relu(c)); the ReLU runs on the 4x smaller tensor.
        h = F.relu(F.max_pool2d(self.conv1(x), 2))
        h = F.relu(F.max_pool2d(self.conv2(h), 2))
        h = self.dropout(F.relu(self.fc1(h.flatten(1))))
        return self.fc2(h)


def evaluate(model, images, labels, batch=1000):
    model.eval()
    correct = 0
    with na.no_grad():
        for i in range(0, images.shape[0], batch):
            pred = model(images[i:i + batch]).argmax(1)
            correct += (pred == labels[i:i + batch]).sum().item()
    model.train()
    return correct / images.shape[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=0, help="0: OpenMP's default")
    ap.add_argument("--json", help="append one JSON line per epoch to this file")
    args = ap.parse_args()
    if args.threads:
        na.set_num_threads(args.threads)
    na.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed + 1)

    train_x, train_y = na._C.load_fashion_mnist("train")
    test_x, test_y = na._C.load_fashion_mnist("test")
    train_xn, train_yn = train_x.numpy(), train_y.numpy()  # views, no copies
    n = train_x.shape[0]
    steps = n // args.batch_size  # drop_last: equal batches

    model = CNN()
    opt = na.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = na.optim.lr_scheduler.CosineAnnealingLR(opt, args.epochs * steps)
    print(f"Fashion-MNIST, Python CNN: {args.epochs} epochs, batch {args.batch_size}, AdamW lr {args.lr}, "
          f"{na.get_num_threads()} threads")
    acc = 0.0
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(n)
        start = time.perf_counter()
        total = 0.0
        for s in range(steps):
            idx = order[s * args.batch_size:(s + 1) * args.batch_size]
            x = na.from_numpy(np.ascontiguousarray(train_xn[idx]))
            y = na.from_numpy(np.ascontiguousarray(train_yn[idx]))
            opt.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        epoch_s = time.perf_counter() - start
        acc = evaluate(model, test_x, test_y)
        print(f"epoch {epoch}/{args.epochs}  loss {total / steps:.4f}  test accuracy {acc:.4f}  {epoch_s:.1f} s")
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps({"epoch": epoch, "loss": total / steps, "test_accuracy": acc,
                                    "epoch_seconds": epoch_s}) + "\n")
    return acc


if __name__ == "__main__":
    main()
