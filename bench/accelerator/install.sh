# Sourced by the accelerator scripts: make `smoothbench` runnable from this checkout on a machine that has
# the dependencies but not the project (a lent GPU machine, no network): an editable install without
# dependencies or build isolation, or, where pip cannot, the CLI module on PYTHONPATH.
if ! command -v smoothbench >/dev/null; then
  if ! python -m pip install --quiet --no-deps --no-build-isolation -e . >/dev/null 2>&1 \
      || ! command -v smoothbench >/dev/null; then
    export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
    smoothbench_bin=$(mktemp -d)
    printf '#!/bin/sh\nexec python -m bench.cli "$@"\n' > "$smoothbench_bin/smoothbench"
    chmod +x "$smoothbench_bin/smoothbench"
    export PATH=$smoothbench_bin:$PATH
  fi
fi
