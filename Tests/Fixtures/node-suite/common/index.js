// A small stand-in for Node's test/common: the helpers upstream tests use, with the same
// environment contract (NODE_TEST_DIR, TEST_THREAD_ID) so a runner built for Node's suite runs it.
'use strict';
const assert = require('assert');
const fs = require('fs');
const path = require('path');

const testRoot = process.env.NODE_TEST_DIR ? fs.realpathSync(process.env.NODE_TEST_DIR) : path.resolve(__dirname, '..');
// Like upstream: one temp directory per concurrent worker, or parallel tests collide.
const tmpPath = path.join(testRoot, `.tmp.${process.env.TEST_SERIAL_ID || process.env.TEST_THREAD_ID || '0'}`);

const tmpdir = {
  path: tmpPath,
  refresh() {
    fs.rmSync(tmpPath, { recursive: true, force: true });
    fs.mkdirSync(tmpPath, { recursive: true });
  },
  resolve(...parts) { return path.join(tmpPath, ...parts); },
};

const mustCallChecks = [];
process.on('exit', () => {
  for (const check of mustCallChecks) {
    assert.strictEqual(check.actual, check.exact, `mustCall: called ${check.actual} time(s), expected ${check.exact}\n${check.stack}`);
  }
});

function mustCall(fn, exact = 1) {
  const check = { actual: 0, exact, stack: new Error().stack };
  mustCallChecks.push(check);
  return function(...args) {
    check.actual++;
    return fn ? fn.apply(this, args) : undefined;
  };
}

function skip(message) {
  process._rawDebug(`1..0 # Skipped: ${message}`);
  process.exit(0);
}

module.exports = { tmpdir, mustCall, skip, PORT: +process.env.NODE_COMMON_PORT || 12346 };
