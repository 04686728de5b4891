import StrictrunSystem

// /proc/PID/maps as the unwinder keeps it: parsed once per process (by the system layer's one
// parser) and re-read only when a pc falls outside every known mapping.

typealias Mapping = StrictrunSystem.Mapping
typealias MappingKind = StrictrunSystem.MappingKind

/// A process's mappings, sorted by start address.
struct ProcessMaps: Sendable {
    private var maps: MemoryMaps

    var mappings: [Mapping] { maps.mappings }

    init(mappings: [Mapping]) { maps = MemoryMaps(mappings: mappings) }

    /// Read and parse /proc/PID/maps.
    static func read(pid: Int32) throws(StackError) -> ProcessMaps {
        let bytes = try SystemCalls.readFile("/proc/\(pid)/maps")
        return ProcessMaps(parsing: bytes)
    }

    /// Parse the text of a maps file. Malformed lines are skipped.
    init(parsing bytes: [UInt8]) { maps = MemoryMaps(parsing: bytes) }

    /// The mapping holding `address`, by binary search.
    func mapping(containing address: UInt64) -> Mapping? { maps.mapping(containing: address) }
}
