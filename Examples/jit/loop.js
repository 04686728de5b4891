// A hot loop: V8 tiers it up (Sparkplug, Maglev, TurboFan) and runs it from code space.
let s = 0;
for (let i = 0; i < 5e7; i++) s = (s + i * 7) % 1000003;
console.log(`loop ${s}`);
