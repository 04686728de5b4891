// 5,000 distinct regular expressions, each run often enough that V8 compiles it to native code.
let matches = 0;
for (let i = 0; i < 5000; i++) {
  const r = new RegExp(`a${i}b+c{1,${(i % 5) + 1}}[d-f]?`);
  for (let j = 0; j < 3; j++) if (r.test(`xxa${i}bbbc${j % 2 ? 'e' : ''}yy`)) matches++;
}
console.log(`regexps ${matches}`);
