"""mpi_data.py DIR N -- N synthetic 28x28 digit images (labels 0, 1
alternating: a ring for 0, a bar for 1, plus seeded noise) as IDX files in
DIR: tiny training data for the MPI tests, no download needed."""
import os, random, struct, sys

out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out, exist_ok=True)
r = random.Random(7)
with open(os.path.join(out, 'train-images-idx3-ubyte'), 'wb') as f:
    f.write(struct.pack('>IIII', 0x803, n, 28, 28))
    for i in range(n):
        one = i % 2
        px = bytearray(28 * 28)
        for y in range(28):
            for x in range(28):
                ring = (6 <= x <= 21 and y in (6, 21)) or (6 <= y <= 21 and x in (6, 21))
                on = (one and 12 <= x <= 15) or (not one and ring)
                px[y * 28 + x] = min(255, (200 if on else 0) + r.randrange(40))
        f.write(px)
with open(os.path.join(out, 'train-labels-idx1-ubyte'), 'wb') as f:
    f.write(struct.pack('>II', 0x801, n))
    f.write(bytes(i % 2 for i in range(n)))
