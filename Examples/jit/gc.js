// GC-heavy with code compaction: hot code is compiled, dropped and collected while the
// heap churns; compacting GCs move and free code pages (--compact-on-every-full-gc, set at run time).
const v8 = require('v8');
v8.setFlagsFromString('--expose-gc');
v8.setFlagsFromString('--compact-on-every-full-gc');
const gc = require('vm').runInNewContext('gc');
let checksum = 0;
for (let round = 0; round < 30; round++) {
  let fns = [];
  for (let i = 0; i < 300; i++) {
    const f = new Function('a', 'b', `let t = 0; for (let k = 0; k < 200; k++) t = (t + a * k + b + ${round * 1000 + i}) | 0; return t;`);
    for (let j = 0; j < 20; j++) checksum = (checksum + f(j, round)) | 0;
    fns.push(f);
  }
  let junk = [];
  for (let i = 0; i < 20000; i++) junk.push({ i, s: 'x'.repeat(i % 50), a: [i, i + 1] });
  checksum = (checksum + junk.length) | 0;
  fns = null;
  junk = null;
  gc();
}
console.log(`gc ${checksum}`);
