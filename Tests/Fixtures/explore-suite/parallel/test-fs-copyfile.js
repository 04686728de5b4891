'use strict';
// fs.copyFileSync → libuv uv_fs_copyfile → copy_file_range(2). libuv falls back to sendfile(2)
// when the call answers ENOSYS, not when it answers EPERM: explore finds "ENOSYS is enough".
const assert = require('assert');
const fs = require('fs');
const path = require('path');
const dir = fs.mkdtempSync(path.join(process.env.NODE_TEST_DIR || require('os').tmpdir(), 'copy-'));
const from = path.join(dir, 'a.txt');
const to = path.join(dir, 'b.txt');
fs.writeFileSync(from, 'copied by copy_file_range or sendfile\n'.repeat(100));
fs.copyFileSync(from, to);
assert.strictEqual(fs.readFileSync(to, 'utf8'), fs.readFileSync(from, 'utf8'));
fs.rmSync(dir, { recursive: true });
