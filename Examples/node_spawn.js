#!/usr/bin/env node
// node_spawn.js — trips the `process.fork` rule from Node: libuv's uv_spawn (child_process)
// creates the child with fork(2) (glibc clone without CLONE_VM) and then execs it.
//
//   spawnSync('/bin/true')            -> RESULT spawn ok kind=sync status=0
//   spawn('/bin/echo', ['hi']), async -> RESULT spawn ok kind=async status=0 output=hi
// or, when the fork is refused, RESULT spawn errno=<code> kind=sync|async.
//
// Expected (op `spawn`, both lines):
//   microkernel         errno=EPERM (libuv forks; fork denied)
//   microkernel-strict  errno=EPERM
//   apple-jit           ok
//   audit               ok (logged)
//   no strictrun        ok
// V8 asks for W+X memory at start-up (mprotect RWX); run `node --jitless node_spawn.js` under
// every profile that denies W+X (microkernel, microkernel-strict, apple-jit), or Node aborts
// before this script runs.
//
// Node reports spawn errors in two ways: spawnSync returns {error} with error.code; async spawn
// emits 'error' for EACCES/EAGAIN/EMFILE/ENFILE/ENOENT but *throws* synchronously for any other
// code (EPERM included). Both are caught here. Exits 0 whenever it ran to the end.
'use strict';

const { spawn, spawnSync } = require('child_process');

function out(line) {
  // fs.writeSync on fd 1 is synchronous: the line is out before the next syscall.
  require('fs').writeSync(1, line + '\n');
}

function codeOf(err) {
  if (err && typeof err.code === 'string') return err.code;
  if (err && typeof err.errno === 'number') return String(-err.errno);
  return 'UNKNOWN';
}

function trySync() {
  let r;
  try {
    r = spawnSync('/bin/true');
  } catch (err) {
    out(`RESULT spawn errno=${codeOf(err)} kind=sync`);
    return;
  }
  if (r.error) {
    out(`RESULT spawn errno=${codeOf(r.error)} kind=sync`);
  } else if (r.signal) {
    out(`RESULT spawn ok kind=sync signal=${r.signal}`);
  } else {
    out(`RESULT spawn ok kind=sync status=${r.status}`);
  }
}

function tryAsync(done) {
  let child;
  try {
    child = spawn('/bin/echo', ['hi'], { stdio: ['ignore', 'pipe', 'inherit'] });
  } catch (err) {
    out(`RESULT spawn errno=${codeOf(err)} kind=async`);
    done();
    return;
  }
  let output = '';
  let reported = false;
  const report = (line) => {
    if (!reported) {
      reported = true;
      out(line);
      done();
    }
  };
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => { output += chunk; });
  child.on('error', (err) => report(`RESULT spawn errno=${codeOf(err)} kind=async`));
  child.on('close', (status, signal) => {
    const how = signal ? `signal=${signal}` : `status=${status}`;
    report(`RESULT spawn ok kind=async ${how} output=${output.trim()}`);
  });
}

out('EXPECT spawn microkernel=errno=EPERM microkernel-strict=errno=EPERM apple-jit=ok audit=ok');
// genode and fuchsia have no socketpair (ENOSYS, category net): libuv's spawn fails before its fork.
out('EXPECT spawn genode=errno=ENOSYS@net fuchsia=errno=ENOSYS@net');
trySync();
tryAsync(() => { process.exitCode = 0; });
