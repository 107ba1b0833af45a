#!/usr/bin/env bash
# The LAMA on/off study, seed by seed: for each SEED, train LAMA on then off (the same machine, path and
# settings), and copy what each finished run measured into benchmarks/ablation/runs/lama_<arm>_seed<SEED>/:
# results.json, metrics.csv, the final sample grid, .hydra/ (config and overrides) and machine.txt (CPU,
# native bf16, the fast path the run chose). `task=compare` reads that folder:
#   benchmarks/ablation/run_study.sh 0 1 2                # full runs under $STUDY_DIR (default outputs/study)
#   python run.py task=compare sweep=benchmarks/ablation/runs
# Extra overrides for every run: ARGS="trainer.max_iterations=100" benchmarks/ablation/run_study.sh 0
# One arm only (to finish a pair): ARMS=false benchmarks/ablation/run_study.sh 1
# Run it from a copy of the repository (git worktree) if you edit code meanwhile: each run imports lama lazily.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
STUDY_DIR=${STUDY_DIR:-outputs/study}
KEEP=benchmarks/ablation/runs
read -r -a extra <<< "${ARGS:-}"
read -r -a arms <<< "${ARMS:-true false}"
[ "$#" -gt 0 ] || { echo "usage: $0 SEED [SEED ...]" >&2; exit 2; }
for seed in "$@"; do
    for arm in "${arms[@]}"; do
        name="lama_${arm}_seed${seed}"
        run="$STUDY_DIR/$name"
        "$PY" run.py experiment=ablation_synthetic "model.lama=$arm" "seed=$seed" "hydra.run.dir=$run" "${extra[@]}"
        out="$KEEP/$name"
        rm -rf "$out" && mkdir -p "$out/.hydra"
        cp "$run/results.json" "$run/csv/metrics.csv" "$out/"
        cp "$run/samples/latest.png" "$out/grid.png"
        cp "$run/.hydra/config.yaml" "$run/.hydra/overrides.yaml" "$out/.hydra/"
        "$PY" - "$run/run.log" > "$out/machine.txt" <<'PYEOF'
import sys

import torch

from lama.device import cpu_info

fast = next((line.split("] - ", 1)[-1] for line in open(sys.argv[1]) if "fast path:" in line), "fast path: unknown")
print(f"cpu: {cpu_info('model name')} (family {cpu_info('cpu family')} model {cpu_info('model')})")
print(f"native bf16: {torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()}")
print(f"torch: {torch.__version__}, threads: {torch.get_num_threads()}")
print(fast.strip())
PYEOF
        echo "kept $out"
    done
done
