// worker_threads: four isolates JIT-compiling in parallel in one address space.
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
if (isMainThread) {
  const results = [];
  let pending = 4;
  for (let w = 0; w < 4; w++) {
    const worker = new Worker(__filename, { workerData: w });
    worker.on('message', (value) => {
      results[w] = value;
      if (--pending === 0) console.log(`workers ${results.join(',')}`);
    });
  }
} else {
  let s = 0;
  for (let i = 0; i < 5e6; i++) s = (s + i * (workerData + 3)) % 1000003;
  const f = new Function('x', `return x + ${workerData};`);
  parentPort.postMessage(f(s));
}
