#!/usr/bin/env bash
# Prepare what a GPU window sends along, so that none of its minutes go to preparation:
#   .gpu_bundle/wheels/  wheels of what the bare GPU image (Python 3.12) lacks for hwnas:
#                        hydra-core, omegaconf, antlr4-python3-runtime, mlxtend (the suite
#                        logs to CSV, so wandb stays behind)
#   .gpu_bundle/data/    CIFAR-10's JPEG copy packed into one .npz (55 MB, under the 64 MiB a
#                        call carries; the 66 MB zip is not)
# Then prints the device tool's commands. Run from anywhere: benchmarks/gpu_bundle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=.gpu_bundle
ZIP=${CIFAR10_ZIP:-../shared/data/cifar10-jpeg.zip}
grep -qx "/$BUNDLE/" .git/info/exclude 2>/dev/null || echo "/$BUNDLE/" >> .git/info/exclude
mkdir -p "$BUNDLE/wheels" "$BUNDLE/data"

version() { python3 -c "import importlib.metadata as m; print(m.version('$1'))"; }
PLATFORMS="--platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform any"
for pkg in hydra-core omegaconf mlxtend; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp $PLATFORMS -d "$BUNDLE/wheels" "$pkg==$(version "$pkg")"
done
# antlr4-python3-runtime 4.9.3 (what omegaconf 2.3 needs) is published as a source archive only
python3 -m pip wheel -q --no-deps -w "$BUNDLE/wheels" "antlr4-python3-runtime==$(version antlr4-python3-runtime)"

if [ -f "$ZIP" ]; then
    python3 benchmarks/pack_images.py "$ZIP" "$BUNDLE/data/cifar10-jpeg.npz"
else
    echo "no CIFAR-10 zip at $ZIP (set CIFAR10_ZIP): gpu_cifar10.py will have no data" >&2
fi
du -sh "$BUNDLE"/* 
SETUP='python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .gpu_bundle/wheels/*.whl && export PYTHONPATH=/tmp/site:$PWD/src PYTHONUNBUFFERED=1 ||exit;'
cat <<EOT

The GPU suite, two device commands of at most 8 minutes each (part 1 took about 5 on a cold H200):
run with carry [".gpu_bundle/wheels"], timeout_s 560:
  $SETUP python3 benchmarks/gpu_suite.py --part 1 --out \$OUT
  $SETUP python3 benchmarks/gpu_suite.py --part 2 --out \$OUT

CIFAR-10 to the accuracy target: run with carry [".gpu_bundle/wheels", ".gpu_bundle/data"]:
  $SETUP python3 benchmarks/gpu_cifar10.py --data .gpu_bundle/data/cifar10-jpeg.npz
EOT
