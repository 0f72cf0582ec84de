"""synth_idx.py DIR N [SPLIT ...] -- N synthetic 28x28 digit images (labels
0, 1 alternating: a ring for 0, a bar for 1, plus seeded noise) as IDX files
in DIR, one pair of files per split (default: train; e.g. train t10k for a
data directory with a test split): tiny data for the shell tests, no
download needed."""
import os, random, struct, sys

out, n = sys.argv[1], int(sys.argv[2])
splits = sys.argv[3:] or ["train"]
os.makedirs(out, exist_ok=True)
r = random.Random(7)
img = bytearray()
for i in range(n):
    one = i % 2
    for y in range(28):
        for x in range(28):
            ring = (6 <= x <= 21 and y in (6, 21)) or (6 <= y <= 21 and x in (6, 21))
            on = (one and 12 <= x <= 15) or (not one and ring)
            img.append(min(255, (200 if on else 0) + r.randrange(40)))
for split in splits:
    with open(os.path.join(out, f"{split}-images-idx3-ubyte"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, n, 28, 28) + img)
    with open(os.path.join(out, f"{split}-labels-idx1-ubyte"), "wb") as f:
        f.write(struct.pack(">II", 0x801, n) + bytes(i % 2 for i in range(n)))
