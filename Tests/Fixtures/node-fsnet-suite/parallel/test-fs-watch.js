'use strict';
// Watches the working directory (fs.watch → uv_fs_event_start → inotify_init1).
const assert = require('assert');
const fs = require('fs');
const watcher = fs.watch('.');
assert.ok(watcher);
watcher.close();
