// swift_floor.swift — the Swift runtime's own start-up and exit, for the /bin/true rows of `make bench`:
// built by run.sh with `-static-stdlib` as strictrun is, once as is and once with -D FOUNDATION (the
// Foundation that strictrun links). It does nothing else: what strictrun's launcher can never go below.
#if FOUNDATION
import Foundation
let pid = ProcessInfo.processInfo.processIdentifier
#else
let pid: Int32 = 0
#endif
if CommandLine.arguments.count > 1 { print(pid) }
