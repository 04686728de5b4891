// WebAssembly: a module with a memory load, called in bounds and out of bounds; the
// out-of-bounds access must surface as a RuntimeError (V8's trap handler, on SIGSEGV).
const bytes = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,                   // magic, version
  0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f,                   // type: (i32) -> i32
  0x03, 0x02, 0x01, 0x00,                                           // function 0: type 0
  0x05, 0x03, 0x01, 0x00, 0x01,                                     // memory: 1 page
  0x07, 0x08, 0x01, 0x04, 0x6c, 0x6f, 0x61, 0x64, 0x00, 0x00,       // export "load"
  0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x28, 0x02, 0x00, 0x0b, // i32.load (local 0)
]);
let traps = 0;
let sum = 0;
for (let m = 0; m < 20; m++) {
  const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes));
  for (let i = 0; i < 1000; i++) sum = (sum + instance.exports.load(i * 4)) | 0;
  for (const address of [65536, 70000, 0x7ffffff0]) {
    try {
      instance.exports.load(address);
    } catch (e) {
      if (e instanceof WebAssembly.RuntimeError) traps++;
      else throw e;
    }
  }
}
console.log(`wasm sum=${sum} traps=${traps}`);
