// Demangling of C++ (Itanium ABI, through abi::__cxa_demangle in CStrictrunDemangle) and
// Swift (through the Swift runtime's swift_demangle) symbol names.
import CStrictrunDemangle

/// `swift_demangle` from the Swift runtime (libswiftCore): demangles into a malloc'd buffer
/// when `outputBuffer` is nil; returns nil when the name is not a Swift name.
@_silgen_name("swift_demangle")
private func _swift_demangle(_ mangledName: UnsafePointer<CChar>, _ mangledNameLength: Int,
                             _ outputBuffer: UnsafeMutablePointer<CChar>?,
                             _ outputBufferSize: UnsafeMutablePointer<Int>?,
                             _ flags: UInt32) -> UnsafeMutablePointer<CChar>?

/// Turns mangled symbol names into readable ones; anything it does not recognise is returned
/// unchanged.
enum Demangler {
    /// Names longer than this are left alone (a hostile or broken symbol table must not make
    /// the demanglers spin).
    static let maxLength = 8192

    static func demangle(_ name: String) -> String {
        let utf8 = name.utf8
        guard utf8.count >= 3, utf8.count <= maxLength else { return name }
        if isItanium(utf8) {
            return name.withCString { raw in
                guard let out = strictrun_cxa_demangle(raw) else { return name }
                return SystemCalls.takeCString(out)
            }
        }
        if isSwift(name) {
            return name.withCString { raw in
                guard let out = _swift_demangle(raw, utf8.count, nil, nil, 0) else { return name }
                return SystemCalls.takeCString(out)
            }
        }
        return name
    }

    /// `_Z…` (and the `__Z…` spelling some toolchains emit).
    private static func isItanium(_ utf8: String.UTF8View) -> Bool {
        var it = utf8.makeIterator()
        let a = it.next(), b = it.next(), c = it.next()
        if a == UInt8(ascii: "_") && b == UInt8(ascii: "Z") { return true }
        return a == UInt8(ascii: "_") && b == UInt8(ascii: "_") && c == UInt8(ascii: "Z")
    }

    /// Swift 5+ (`$s`, `$e`), Swift 4 (`$S`, `_T0`), with or without a leading underscore.
    private static func isSwift(_ name: String) -> Bool {
        for prefix in ["$s", "$S", "$e", "_$s", "_$S", "_$e", "_T0"] where name.hasPrefix(prefix) {
            return true
        }
        return false
    }
}
