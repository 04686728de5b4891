#if canImport(Glibc)
import Glibc
#endif
import CStrictrunShims

/// A secret kept in the kernel's **user keyring** (keyrings(7): `@u`, one per uid, outliving the
/// processes that use it), through add_key(2) and keyctl(2) (raw syscalls in the shim: glibc has no
/// wrappers). strictrun keeps the key that authenticates its filter cache there: a file in the cache
/// directory can be written by any process of the user, traced programs included, but the keyring
/// is out of their reach (the filter refuses `add_key`, `request_key` and `keyctl` to every program,
/// `escape/keyring`).
public enum Keyring {
    /// KEY_SPEC_USER_KEYRING (linux/keyctl.h).
    static let userKeyring: Int32 = -4
    /// Possessor: everything; the user: view, read, search (a process whose session keyring does not
    /// link `@u`, e.g. a systemd service, can still read the key; processes of other users cannot).
    static let permissions: UInt32 = 0x3f0b_0000

    /// The `length`-byte secret named `description` (key type `user`) in the user keyring, made
    /// from random bytes on first use: keyctl(KEYCTL_SEARCH) in `@u`, else add_key(2) and
    /// keyctl(KEYCTL_SETPERM); then keyctl(KEYCTL_READ). Throws the failing call and its errno
    /// (EPERM, ENOSYS, EDQUOT where keyrings are unavailable, e.g. in some containers; EBADMSG when
    /// a key of another size has the name).
    public static func userSecret(named description: String, length: Int) throws(SystemError) -> [UInt8] {
        var id = strictrun_keyctl_search(userKeyring, "user", description)
        if id < 0 {
            guard errno == ENOKEY || errno == EKEYREVOKED || errno == EKEYEXPIRED else {
                throw SystemError("keyctl(KEYCTL_SEARCH)")
            }
            var generator = SystemRandomNumberGenerator()
            let fresh = (0..<length).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            id = try valueOrErrno("add_key") {
                fresh.withUnsafeBytes { strictrun_add_key("user", description, $0.baseAddress, $0.count, userKeyring) }
            }
            _ = try valueOrErrno("keyctl(KEYCTL_SETPERM)") { strictrun_keyctl_setperm(Int32(truncatingIfNeeded: id), permissions) }
        }
        // One byte more than asked: a longer key is seen as one.
        var buffer = [UInt8](repeating: 0, count: length + 1)
        let count = try valueOrErrno("keyctl(KEYCTL_READ)") {
            buffer.withUnsafeMutableBytes { strictrun_keyctl_read(Int32(truncatingIfNeeded: id), $0.baseAddress, $0.count) }
        }
        guard count == length else { throw SystemError("keyctl(KEYCTL_READ): a \(count)-byte key", errno: EBADMSG) }
        return Array(buffer.prefix(length))
    }
}

/// The GNU build-id (the `NT_GNU_BUILD_ID` note a linker writes from the contents of what it
/// linked) of a loaded ELF object, read from its `PT_NOTE` segments in memory (dl_iterate_phdr(3):
/// no file is opened).
public enum BuildID {
    /// The running executable's build-id; nil when it was linked without one.
    public static func mainProgram() -> [UInt8]? { of(nil) }

    /// The build-id of the loaded object holding `address` (a function of a shared library), or
    /// of the main program for nil; nil when it has none or no object holds `address`.
    public static func of(_ address: UnsafeRawPointer?) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 64)
        let length = buffer.withUnsafeMutableBufferPointer { strictrun_build_id(address, $0.baseAddress, $0.count) }
        guard length > 0 else { return nil }
        return Array(buffer.prefix(min(Int(length), buffer.count)))
    }
}
