// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "strictrun",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "strictrun", targets: ["strictrun"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.0"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.7.0"),
    ],
    targets: [
        // System libraries (Debian: libseccomp-dev, libdw-dev).
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp",
                       providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "CElfutils", pkgConfig: "libdw",
                       providers: [.apt(["libdw-dev"])]),
        // Every raw kernel call Swift cannot make itself, and the fork→exec child path.
        .target(name: "CStrictrunShims"),
        // C++ demangling through abi::__cxa_demangle.
        .target(name: "CStrictrunDemangle"),

        // Reading YAML files with file:line:column and key in every error (profiles, suites).
        .target(name: "StrictrunYAML", dependencies: [.product(name: "Yams", package: "Yams")]),
                // The trace schema (typed events, categories, actions), its writer and reader: no dependencies.
        .target(name: "StrictrunTrace"),
        .target(name: "StrictrunPolicy", dependencies: ["StrictrunYAML", "StrictrunTrace", "StrictrunSystem", .product(name: "Yams", package: "Yams")]),
        // The only Swift code that makes kernel calls for the tracer: ptrace, registers, tracee
        // memory as bytes, /proc, wait status, remote syscalls; and syscall knowledge as tables.
        .target(name: "StrictrunSystem", dependencies: ["CStrictrunShims"]),
        .target(name: "StrictrunStacks", dependencies: ["CElfutils", "CStrictrunDemangle", "StrictrunSystem"]),
        .target(name: "StrictrunSandbox",
                dependencies: ["CSeccomp", "CStrictrunShims", "StrictrunSystem", "StrictrunPolicy", "StrictrunTrace",
                               "StrictrunStacks",
                               // DER private keys (PKCS#8, PKCS#1, SEC1) in the tls/key-read check.
                               .product(name: "SwiftASN1", package: "swift-asn1"),
                               // The filter cache's keys (SHA-256) and entries (HMAC-SHA256).
                               .product(name: "Crypto", package: "swift-crypto")]),
        // The mediated TLS broker (issue 4): SwiftNIO + swift-nio-ssl + swift-certificates.
        .target(name: "StrictrunBroker", dependencies: [
            "CStrictrunShims", "StrictrunSystem",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        // Test-suite runs (issue 5) and porting reports (issue 6): read traces, never ptrace.
        // What conformance writes and report reads: results.json / runs.jsonl, trace digests.
        .target(name: "StrictrunResults", dependencies: ["StrictrunTrace"]),
        .target(name: "StrictrunConformance", dependencies: [
            "StrictrunTrace", "StrictrunResults", "StrictrunSystem", "StrictrunYAML", .product(name: "Yams", package: "Yams"),
            // SHA-256 of suite and profile files (the merge and --resume checks).
            .product(name: "Crypto", package: "swift-crypto"),
            "StrictrunReport",  // explore: the porting plan's components, SARIF
        ]),
        .target(name: "StrictrunReport", dependencies: ["StrictrunTrace", "StrictrunResults"]),
        .executableTarget(name: "strictrun", dependencies: [
            "StrictrunPolicy", "StrictrunSandbox", "StrictrunSystem", "StrictrunTrace", "StrictrunResults",
            "StrictrunConformance", "StrictrunReport", "StrictrunStacks",
            "StrictrunBroker",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], linkerSettings: [
            // Relative relocations packed (DT_RELR; GNU ld ≥ 2.38, glibc ≥ 2.36, both in Debian 12): the
            // ~117,000 R_X86_64_RELATIVE entries were 2.7 MB of .rela.dyn that ld.so read at every start.
            // Linked with GNU ld: gold, clang's default here, does not know the option.
            // No dynamic symbol table of our own code: swiftc's static-stdlib link exports every
            // public symbol of every module built from source (34,000 entries), which ld.so hashed and
            // the runtime's dladdr scanned at every start; nothing resolves them at run time.
            .unsafeFlags(["-use-ld=bfd", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
                          "-Xlinker", "--no-export-dynamic"]),
        ]),

        .testTarget(name: "StrictrunTests",
                    dependencies: ["StrictrunPolicy", "StrictrunSandbox", "StrictrunSystem", "StrictrunTrace", "StrictrunResults", "strictrun",
                                   "CSeccomp"]),
        .testTarget(name: "StrictrunTraceTests", dependencies: ["StrictrunTrace"]),
        .testTarget(name: "StrictrunStacksTests", dependencies: ["StrictrunStacks", "StrictrunSystem", "CStrictrunShims"]),
        .testTarget(name: "StrictrunBrokerTests", dependencies: [
            "StrictrunBroker",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOTLS", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "SwiftASN1", package: "swift-asn1"),
        ]),
        .testTarget(name: "StrictrunReportTests",
                    dependencies: ["StrictrunConformance", "StrictrunResults", "StrictrunReport", "StrictrunTrace", "strictrun",
                                   .product(name: "Yams", package: "Yams")]),
    ],
    swiftLanguageModes: [.v6]
)

// Generic types by direct metadata accessors, not by their mangled names: a name decoded at run time
// checks the type's requirements (a Dictionary's key is Hashable) by scanning every protocol
// conformance record of the binary (~8,800; 60–130 µs each), about 16 times before the program's
// exec. With direct accessors the witness tables are passed in: 3 scans remain, an untripped
// `run /bin/true` is ~8 % faster, the binary 0.3 % larger. Dependencies get the same flag from the
// release build commands (Makefile, Benchmarks/run.sh): `-Xswiftc -Xfrontend -Xswiftc <flag>`.
for target in package.targets where target.type != .system && !["CStrictrunShims", "CStrictrunDemangle"].contains(target.name) {
    target.swiftSettings = (target.swiftSettings ?? [])
        + [.unsafeFlags(["-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors"])]
}
