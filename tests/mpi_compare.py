"""mpi_compare.py A B TOL [--bitwise|--history] -- two qdm checkpoints
agree: the loss history (loss and infidelity of every epoch) and every
tensor (--history: the history alone), to relative TOL (max |a - b| /
max |a|), or bit for bit. Reads safetensors directly
(8-byte header length, JSON header, raw little-endian data), independent of
qdm's reader. Exit 0 if they agree, 1 with the worst tensor named if not."""
import json, struct, sys
from array import array

def read(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in head.items():
        if name == '__metadata__':
            continue
        code = {'F64': 'd', 'F32': 'f', 'I64': 'q', 'U8': 'B', 'I32': 'i'}.get(t['dtype'])
        if code is None:
            continue
        a, b = t['data_offsets']
        out[name] = array(code, data[a:b])
    return out, head.get('__metadata__', {})

def main():
    pa, pb, tol = sys.argv[1], sys.argv[2], float(sys.argv[3])
    bitwise = '--bitwise' in sys.argv
    only_history = '--history' in sys.argv
    A, ma = read(pa)
    B, mb = read(pb)
    if set(A) != set(B):
        print('tensors differ: %s' % sorted(set(A) ^ set(B)))
        return 1
    worst, wname = 0.0, ''
    for name in sorted(A):
        if only_history and name != 'history':
            continue
        a, b = A[name], B[name]
        if name == 'history':  # epochs x (loss, infidelity, lr, seconds): not the seconds
            a = [v for i, v in enumerate(a) if i % 4 != 3]
            b = [v for i, v in enumerate(b) if i % 4 != 3]
        if len(a) != len(b):
            print('%s: %d against %d values' % (name, len(a), len(b)))
            return 1
        if bitwise:
            if list(a) != list(b):
                print('%s differs' % name)
                return 1
            continue
        scale = max([abs(v) for v in a] + [1e-300])
        d = max([abs(x - y) for x, y in zip(a, b)] + [0.0]) / scale
        if d > worst:
            worst, wname = d, name
    for k in ('state.epoch', 'state.batch'):
        if ma.get(k) != mb.get(k):
            print('%s: %s against %s' % (k, ma.get(k), mb.get(k)))
            return 1
    print('largest relative difference %.3g (%s)' % (worst, wname or '-'))
    return 0 if worst <= tol else 1

sys.exit(main())
