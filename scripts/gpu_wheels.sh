#!/usr/bin/env bash
# Download into .whl/ the wheels the lent GPU machine lacks, for scripts/gpu_check.sh.
#
# The device (Python 3.12, x86-64, no registry) has jax (CUDA), torch, numpy,
# h5py, absl-py, rich, ml-dtypes, packaging and typing-extensions, but not
# keras nor the two keras requirements namex and optree (see
# /work/.library/device/KINDS.md).
# This fetches exactly those three, keras at the version installed here, the
# others at the versions installed here too (so the device runs what the tests
# here ran), as cp312 manylinux x86_64 / pure-Python wheels, and makes sure
# .whl/ is ignored (.git/info/exclude) so it travels only through `carry`.
#
# Usage (in the repo root, where PyPI is reachable):
#     bash scripts/gpu_wheels.sh          # then: ls .whl
# Environment: PYTHON (default .venv/bin/python, else python3) is the
# interpreter whose pip downloads and whose installed versions are pinned.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

version_of() {
    "$PYTHON" -c "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))" "$1"
}

KERAS=$(version_of keras)
NAMEX=$(version_of namex)
OPTREE=$(version_of optree)

# Ignore .whl/ (also listed in .gitignore; the exclude entry keeps it ignored
# whatever .gitignore says).
EXCLUDE=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$EXCLUDE")"
touch "$EXCLUDE"
grep -qxF '/.whl/' "$EXCLUDE" || echo '/.whl/' >>"$EXCLUDE"

# One version of each package only: a second one stops the device's install.
mkdir -p .whl
rm -f .whl/keras-*.whl .whl/namex-*.whl .whl/optree-*.whl

"$PYTHON" -m pip download -q --no-deps --only-binary=:all: \
    --python-version 3.12 --implementation cp --abi cp312 --abi abi3 --abi none \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 --platform any \
    -d .whl "keras==$KERAS" "namex==$NAMEX" "optree==$OPTREE"

# Their requirements must all be on the device: the three above, plus what
# KINDS.md lists there (absl-py, numpy, rich, h5py, ml-dtypes, packaging for
# keras; typing-extensions for optree).
ON_DEVICE="absl-py numpy rich h5py ml-dtypes packaging typing-extensions keras namex optree"
missing=""
for wheel in .whl/*.whl; do
    for req in $(unzip -p "$wheel" '*/METADATA' | grep '^Requires-Dist' | grep -v 'extra ==' \
            | sed -E 's/^Requires-Dist: *([A-Za-z0-9_.-]+).*/\1/' | tr 'A-Z_' 'a-z-' | sort -u); do
        case " $ON_DEVICE " in *" $req "*) ;; *) missing="$missing $req($(basename "$wheel"))" ;; esac
    done
done
if [ -n "$missing" ]; then
    echo "requirements neither carried nor on the device:$missing" >&2
    exit 1
fi

ls -l .whl
du -sh .whl
