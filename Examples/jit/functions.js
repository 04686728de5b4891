// 20,000 distinct functions through new Function, each called enough to be compiled.
let total = 0;
for (let i = 0; i < 20000; i++) {
  const f = new Function('x', `return (x * ${i} + ${i % 7}) % 1000003;`);
  for (let j = 0; j < 3; j++) total = (total + f(j + 3)) % 1000000007;
}
console.log(`functions ${total}`);
