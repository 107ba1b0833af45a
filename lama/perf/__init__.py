"""Performance tooling behind `task=bench`: timing LamaGAN's own training step, FLOP counting and matmul
peaks, and data-loader throughput (decode vs cache, with workers)."""
