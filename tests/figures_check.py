"""figures_check.py -- reads a PNG's signature, IHDR and chunk CRCs (the
format as specified, not through any image library) and checks its size.
Usage: python3 figures_check.py FILE.png W H      exact size
       python3 figures_check.py FILE.png W+ H+    at least that size
(a size may also be WMIN-WMAX). Exits 1 with one line saying what is wrong."""
import struct, sys, zlib

def chunks(b):
    i = 8
    while i + 12 <= len(b):
        n, = struct.unpack(">I", b[i:i + 4])
        kind, data = b[i + 4:i + 8], b[i + 8:i + 8 + n]
        crc, = struct.unpack(">I", b[i + 8 + n:i + 12 + n])
        if zlib.crc32(kind + data) & 0xffffffff != crc:
            sys.exit(f"{sys.argv[1]}: bad CRC in chunk {kind!r}")
        yield kind, data
        i += 12 + n

def fits(v, spec):
    if spec.endswith("+"): return v >= int(spec[:-1])
    if "-" in spec:
        lo, hi = spec.split("-")
        return int(lo) <= v <= int(hi)
    return v == int(spec)

path, ws, hs = sys.argv[1:4]
b = open(path, "rb").read()
if b[:8] != b"\x89PNG\r\n\x1a\n": sys.exit(f"{path}: not a PNG (signature)")
cs = list(chunks(b))
if not cs or cs[0][0] != b"IHDR" or cs[-1][0] != b"IEND": sys.exit(f"{path}: chunks {[c[0] for c in cs]}")
w, h, depth, color = struct.unpack(">IIBB", cs[0][1][:10])
raw = zlib.decompress(b"".join(d for k, d in cs if k == b"IDAT"))
bpp = {0: 1, 2: 3, 4: 2, 6: 4}[color] * depth // 8
if len(raw) != h * (1 + w * bpp): sys.exit(f"{path}: {len(raw)} pixel bytes for {w}x{h}")
if not (fits(w, ws) and fits(h, hs)): sys.exit(f"{path}: {w}x{h}, expected {ws}x{hs}")
print(f"{path}: {w}x{h}")
