import Crypto
import StrictrunSystem

/// One file of the filter cache: the BPF program libseccomp made for one key, compiled with a
/// placeholder for strictrun's pid, and where that pid sits in it. The file is
///
///     magic · key (32) · placeholder (u32) · count, positions (u32 each) ·
///     count, instructions (8 bytes each, `struct sock_filter`) · HMAC-SHA256 (32)
///
/// (integers little-endian), the HMAC over everything before it with the secret of the user
/// keyring: a file that is short, foreign, for another key, inconsistent or not sealed with that
/// secret is refused as a whole.
struct FilterCacheEntry: Equatable {
    static let magic = Array("strictrun-filter-cache\n".utf8)
    /// BPF_MAXINSNS: no filter the kernel takes is longer.
    static let maximumInstructions = 4096
    static let macSize = 32

    var key: [UInt8]
    /// The pid the program was compiled with (0: no supervisor rules, nothing to patch).
    var placeholder: UInt32
    /// The instructions whose `k` is the pid.
    var positions: [UInt32]
    var program: [BPFInstruction]

    /// Why a file was not used.
    enum Rejection: Error, Equatable, CustomStringConvertible {
        case malformed(String)
        case otherKey
        case badMAC

        var description: String {
            switch self {
            case .malformed(let why): "malformed entry (\(why))"
            case .otherKey: "entry for another key"
            case .badMAC: "entry not authenticated (HMAC mismatch)"
            }
        }
    }

    /// The file's bytes, sealed with `secret`.
    func sealed(with secret: SymmetricKey) -> [UInt8] {
        var out = CanonicalBytes()
        out.bytes = Self.magic
        out.bytes += key
        out.append(placeholder)
        out.append(UInt32(positions.count))
        for position in positions { out.append(position) }
        out.append(UInt32(program.count))
        out.bytes += BPFInstruction.encode(program)
        out.bytes += Array(HMAC<SHA256>.authenticationCode(for: out.bytes, using: secret))
        return out.bytes
    }

    /// The entry in `bytes`, authenticated with `secret` first (nothing is read from an
    /// unauthenticated file), for `key`.
    static func open(_ bytes: [UInt8], key expected: [UInt8], secret: SymmetricKey) throws(Rejection) -> FilterCacheEntry {
        guard bytes.count >= magic.count + expected.count + 12 + macSize else { throw .malformed("short") }
        guard bytes.starts(with: magic) else { throw .malformed("not a filter cache entry") }
        let body = Array(bytes.dropLast(macSize))
        guard HMAC<SHA256>.isValidAuthenticationCode(Array(bytes.suffix(macSize)), authenticating: body, using: secret) else {
            throw .badMAC
        }
        var reader = Reader(bytes: body, offset: magic.count)
        guard let key = reader.take(expected.count), key == expected else { throw .otherKey }
        guard let placeholder = reader.u32(), let positionCount = reader.u32(),
              positionCount <= maximumInstructions else { throw .malformed("header") }
        var positions: [UInt32] = []
        for _ in 0..<positionCount {
            guard let position = reader.u32() else { throw .malformed("positions") }
            positions.append(position)
        }
        guard let count = reader.u32(), count > 0, count <= maximumInstructions,
              let raw = reader.take(Int(count) * 8), reader.atEnd else { throw .malformed("program") }
        let program = BPFInstruction.decode(raw)
        // Each position names an instruction that compares the placeholder.
        guard placeholder != 0 || positions.isEmpty,
              positions.allSatisfy({ Int($0) < program.count && program[Int($0)].k == placeholder }) else {
            throw .malformed("pid positions")
        }
        return FilterCacheEntry(key: key, placeholder: placeholder, positions: positions, program: program)
    }

    /// The program for a run whose supervisor is `pid` (nil: a filter without supervisor rules).
    func program(supervisor pid: Int32?) -> [BPFInstruction]? {
        guard (pid == nil) == positions.isEmpty else { return nil }
        var out = program
        if let pid {
            for position in positions { out[Int(position)].k = UInt32(bitPattern: pid) }
        }
        return out
    }

    /// The entry for a program compiled for `supervisor` (`program`) and for the placeholder pid
    /// (`placeholderProgram`): nil unless the two differ exactly in the `k` of instructions that
    /// hold the pid in one and the placeholder in the other.
    static func make(key: [UInt8], supervisor: Int32?, program: [BPFInstruction],
                     placeholder: Int32, placeholderProgram: [BPFInstruction]?) -> FilterCacheEntry? {
        guard let supervisor else {
            return program.count <= maximumInstructions
                ? FilterCacheEntry(key: key, placeholder: 0, positions: [], program: program) : nil
        }
        guard let placeholderProgram, placeholderProgram.count == program.count, program.count <= maximumInstructions,
              supervisor != placeholder else { return nil }
        let pid = UInt32(bitPattern: supervisor), mark = UInt32(bitPattern: placeholder)
        var positions: [UInt32] = []
        for (index, (mine, other)) in zip(program, placeholderProgram).enumerated() where mine != other {
            guard mine.code == other.code, mine.jt == other.jt, mine.jf == other.jf,
                  mine.k == pid, other.k == mark else { return nil }
            positions.append(UInt32(index))
        }
        guard !positions.isEmpty else { return nil }
        return FilterCacheEntry(key: key, placeholder: mark, positions: positions, program: placeholderProgram)
    }
}

/// Reads what `CanonicalBytes` wrote.
private struct Reader {
    let bytes: [UInt8]
    var offset: Int

    var atEnd: Bool { offset == bytes.count }

    mutating func take(_ count: Int) -> [UInt8]? {
        guard count >= 0, bytes.count - offset >= count else { return nil }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func u32() -> UInt32? {
        take(4).map { $0.reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) } }
    }
}
