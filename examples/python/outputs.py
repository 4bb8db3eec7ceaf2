#!/usr/bin/python3
"""Load what `uae attack` and `uae pipeline` write, with numpy (docs/file-formats.md).

Each method's bundle <method>.npz holds one row per sample:

    x, x_adv      clean and generated samples, float32 [n, ...sample shape]
    y             labels, int64 (when the dataset has them)
    index         each sample's row in the source dataset, int64
    linf, l2      ||x_adv - x||_inf and ||x_adv - x||_2, float32
    success       bool (attack methods)
    similarity    of x_adv, float32 (attack methods): MI in nats for MINE,
                  -||x_adv - x||^2 for L2, cos for cosine; NaN = never measured
    mi            the same values, MINE attacks only

Usage:
    /usr/bin/python3 examples/python/outputs.py run/mine.npz          # a summary
    /usr/bin/python3 examples/python/outputs.py run/mine.npz --json   # every array as JSON

In your own code:
    from outputs import load_bundle
    b = load_bundle('run/mine.npz')
    uaes = b['x_adv'][b['success']]          # the successful UAEs
    rows = b['index'][b['success']]          # their rows in the dataset
"""
import json
import sys

import numpy as np

REQUIRED = ('x', 'x_adv', 'index', 'linf', 'l2')


def load_bundle(path):
    """The arrays of a uae .npz bundle by name, checked to have one row per sample."""
    with np.load(path) as f:
        arrays = {name: f[name] for name in f.files}
    missing = [name for name in REQUIRED if name not in arrays]
    if missing:
        raise ValueError(f'{path}: not a uae bundle (no {", ".join(missing)})')
    n = arrays['x'].shape[0]
    for name, a in arrays.items():
        if a.ndim == 0 or a.shape[0] != n:
            raise ValueError(f'{path}: {name} has shape {a.shape}; x has {n} rows')
    if 'success' in arrays and arrays['success'].dtype != np.bool_:
        raise ValueError(f'{path}: success is {arrays["success"].dtype}, not bool')
    return arrays


def summary(path, b):
    n = b['x'].shape[0]
    lines = [f'{path}: {n} samples of {tuple(b["x"].shape[1:])}, labels: {"yes" if "y" in b else "no"}']
    ok = b['success'] if 'success' in b else np.ones(n, dtype=bool)
    if 'success' in b:
        lines.append(f'  success: {int(ok.sum())} of {n} (ASR {100 * ok.mean():.1f}%)' if n else '  success: no samples')
    if 'mi' in b and ok.any():
        lines.append(f'  MI of the successes: mean {np.nanmean(b["mi"][ok]):.4f} nats')
    if ok.any():
        lines.append(f'  linf: mean {b["linf"][ok].mean():.4f}; l2: mean {b["l2"][ok].mean():.4f} (over {int(ok.sum())} samples)')
    return '\n'.join(lines)


def as_json(b):
    def value(v):
        return None if isinstance(v, float) and v != v else v
    return {name: {'dtype': str(a.dtype), 'shape': list(a.shape), 'values': [value(v) for v in a.ravel().tolist()]} for name, a in b.items()}


def main(argv):
    if len(argv) not in (1, 2) or (len(argv) == 2 and argv[1] != '--json'):
        print('usage: outputs.py BUNDLE.npz [--json]', file=sys.stderr)
        return 2
    try:
        b = load_bundle(argv[0])
    except (OSError, ValueError) as e:
        print(f'outputs.py: {e}', file=sys.stderr)
        return 2
    print(json.dumps(as_json(b)) if len(argv) == 2 else summary(argv[0], b))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
