# SPDX-License-Identifier: BSD-3-Clause
# The PyTorch peer of bench/train/run.sh: the same MLP (784-256-128-10, ReLU),
# Adam 1e-3, batch 128, same thread count, on the same Fashion-MNIST IDX files.
# Prints samples per second (wall and CPU) per epoch, training only, and the
# test accuracy at the end.
import gzip, struct, sys, time
import numpy as np
import torch

d, epochs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(1)

def idx(path):
    with gzip.open(path, "rb") as f:
        magic = struct.unpack(">I", f.read(4))[0]
        dims = struct.unpack(">" + "I" * (magic & 0xff), f.read(4 * (magic & 0xff)))
        return np.frombuffer(f.read(), dtype=np.uint8).reshape(dims)

X = torch.tensor(idx(d + "/train-images-idx3-ubyte.gz").reshape(-1, 784), dtype=torch.float32) / 255
Y = torch.tensor(idx(d + "/train-labels-idx1-ubyte.gz"), dtype=torch.long)
TX = torch.tensor(idx(d + "/t10k-images-idx3-ubyte.gz").reshape(-1, 784), dtype=torch.float32) / 255
TY = torch.tensor(idx(d + "/t10k-labels-idx1-ubyte.gz"), dtype=torch.long)
model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                            torch.nn.ReLU(), torch.nn.Linear(128, 10))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
lossf = torch.nn.CrossEntropyLoss()
for e in range(epochs):
    perm = torch.randperm(X.shape[0])
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, X.shape[0], 128):
        idx_ = perm[i:i + 128]
        opt.zero_grad()
        loss = lossf(model(X[idx_]), Y[idx_])
        loss.backward()
        opt.step()
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    print("samples_per_s %.1f samples_per_cpu_s %.1f" % (X.shape[0] / dt, X.shape[0] / dc), flush=True)
with torch.no_grad():
    acc = (model(TX).argmax(1) == TY).float().mean().item()
print("accuracy %.4f" % acc)
