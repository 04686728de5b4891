'use strict';
// Worker threads are threads (clone with CLONE_THREAD): always allowed.
const common = require('../common');
const assert = require('assert');
const { Worker } = require('worker_threads');

const worker = new Worker('require("worker_threads").parentPort.postMessage(6 * 7)', { eval: true });
worker.on('message', common.mustCall((value) => assert.strictEqual(value, 42)));
worker.on('exit', common.mustCall((code) => assert.strictEqual(code, 0)));
