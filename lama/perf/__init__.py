"""Performance tooling behind `task=bench`: the GAN training-iteration workload with its exact and fast
paths, FLOP counting and a matmul peak, and data-loader throughput (decode vs cache)."""
