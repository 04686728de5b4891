'use strict';
// Flaky on purpose: fails the first time it runs in a result set, passes afterwards (a marker
// in NODE_TEST_DIR, which the runner points at its output's tmp/). The runner must retry it and
// name it a flake, not a failure.
require('../common');
const fs = require('fs');
const path = require('path');

const marker = path.join(process.env.NODE_TEST_DIR || __dirname, 'flaky-once.marker');
if (!fs.existsSync(marker)) {
  fs.writeFileSync(marker, 'ran once\n');
  console.error('first run: failing on purpose');
  process.exit(1);
}
