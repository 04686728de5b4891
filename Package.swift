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

        .target(name: "StrictrunPolicy", dependencies: [.product(name: "Yams", package: "Yams")]),
        .target(name: "StrictrunTrace"),
        .target(name: "StrictrunStacks", dependencies: ["CElfutils", "CStrictrunDemangle"]),
        .target(name: "StrictrunSandbox",
                dependencies: ["CSeccomp", "CStrictrunShims", "StrictrunPolicy", "StrictrunTrace", "StrictrunStacks"]),
        .executableTarget(name: "strictrun", dependencies: [
            "StrictrunPolicy", "StrictrunSandbox", "StrictrunTrace",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "StrictrunTests",
                    dependencies: ["StrictrunPolicy", "StrictrunSandbox", "StrictrunTrace", "strictrun"]),
        .testTarget(name: "StrictrunStacksTests", dependencies: ["StrictrunStacks", "CStrictrunShims"]),
    ],
    swiftLanguageModes: [.v6]
)
