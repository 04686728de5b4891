// jit_heavy.js — several seconds of compute that V8 tiers up (Sparkplug, TurboFan): floating
// point (n-body), integer permutations (fannkuch), polymorphic objects and closures (a small
// scheduler), string building and a JSON round trip. Prints one checksum line so a run that
// went wrong is visible: RESULT jit-heavy ok checksum=<n>.
//   node [V8 flags] jit_heavy.js [scale]   (scale 1 ≈ 3 s with the full JIT on this machine)
'use strict';
const scale = Number(process.argv[2] || 1);

function nbody(steps) {
  const PI = Math.PI, SOLAR_MASS = 4 * PI * PI, DAYS = 365.24;
  const b = [
    [0, 0, 0, 0, 0, 0, SOLAR_MASS],
    [4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
      1.66007664274403694e-03 * DAYS, 7.69901118419740425e-03 * DAYS, -6.90460016972063023e-05 * DAYS,
      9.54791938424326609e-04 * SOLAR_MASS],
    [8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
      -2.76742510726862411e-03 * DAYS, 4.99852801234917238e-03 * DAYS, 2.30417297573763929e-05 * DAYS,
      2.85885980666130812e-04 * SOLAR_MASS],
    [1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
      2.96460137564761618e-03 * DAYS, 2.37847173959480950e-03 * DAYS, -2.96589568540237556e-05 * DAYS,
      4.36624404335156298e-05 * SOLAR_MASS],
    [1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
      2.68067772490389322e-03 * DAYS, 1.62824170038242295e-03 * DAYS, -9.51592254519715870e-05 * DAYS,
      5.15138902046611451e-05 * SOLAR_MASS],
  ].map(([x, y, z, vx, vy, vz, m]) => ({ x, y, z, vx, vy, vz, m }));
  const dt = 0.01;
  for (let s = 0; s < steps; s++) {
    for (let i = 0; i < b.length; i++) {
      const bi = b[i];
      for (let j = i + 1; j < b.length; j++) {
        const bj = b[j];
        const dx = bi.x - bj.x, dy = bi.y - bj.y, dz = bi.z - bj.z;
        const d2 = dx * dx + dy * dy + dz * dz;
        const mag = dt / (d2 * Math.sqrt(d2));
        bi.vx -= dx * bj.m * mag; bi.vy -= dy * bj.m * mag; bi.vz -= dz * bj.m * mag;
        bj.vx += dx * bi.m * mag; bj.vy += dy * bi.m * mag; bj.vz += dz * bi.m * mag;
      }
    }
    for (const p of b) { p.x += dt * p.vx; p.y += dt * p.vy; p.z += dt * p.vz; }
  }
  return Math.round(b[0].x * 1e9 + b[1].y * 1e9);
}

function fannkuch(n) {
  const perm = new Int32Array(n), perm1 = new Int32Array(n), count = new Int32Array(n);
  for (let i = 0; i < n; i++) perm1[i] = i;
  let maxFlips = 0, checksum = 0, r = n, permCount = 0;
  for (;;) {
    while (r !== 1) { count[r - 1] = r; r--; }
    for (let i = 0; i < n; i++) perm[i] = perm1[i];
    let flips = 0, k;
    while ((k = perm[0]) !== 0) {
      for (let i = 0, j = k; i < j; i++, j--) { const t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
      flips++;
    }
    if (flips > maxFlips) maxFlips = flips;
    checksum += permCount % 2 === 0 ? flips : -flips;
    for (;;) {
      if (r === n) return checksum * 100 + maxFlips;
      const p0 = perm1[0];
      for (let i = 0; i < r; i++) perm1[i] = perm1[i + 1];
      perm1[r] = p0;
      if (--count[r] > 0) break;
      r++;
    }
    permCount++;
  }
}

// Polymorphic tasks through closures and classes: what dynamic-language JITs specialize.
class Task { constructor(id) { this.id = id; this.work = 0; } run(t) { this.work += t & 7; return this.work; } }
class IoTask extends Task { run(t) { this.work += (t >> 2) & 3; return this.work * 2; } }
class CpuTask extends Task { run(t) { this.work ^= t; return this.work & 0xffff; } }
function scheduler(rounds) {
  const tasks = [];
  for (let i = 0; i < 64; i++) tasks.push(i % 3 === 0 ? new Task(i) : i % 3 === 1 ? new IoTask(i) : new CpuTask(i));
  const hooks = tasks.map((t, i) => (x) => t.run(x + i));
  let acc = 0;
  for (let r = 0; r < rounds; r++) for (let i = 0; i < hooks.length; i++) acc = (acc + hooks[i](r)) | 0;
  return acc;
}

function strings(n) {
  let total = 0;
  for (let r = 0; r < n; r++) {
    const parts = [];
    for (let i = 0; i < 200; i++) parts.push(`k${i}:${(i * r) % 97}`);
    const text = parts.join(',');
    const back = JSON.parse(JSON.stringify({ text, n: r })).text.split(',');
    total = (total + back.length + text.length + back[r % 200].length) | 0;
  }
  return total;
}

let checksum = 0;
checksum = (checksum + nbody(Math.round(2_000_000 * scale))) | 0;
checksum = (checksum + fannkuch(scale >= 1 ? 10 : 9)) | 0;
checksum = (checksum + scheduler(Math.round(150_000 * scale))) | 0;
checksum = (checksum + strings(Math.round(6_000 * scale))) | 0;
console.log(`RESULT jit-heavy ok checksum=${checksum}`);
