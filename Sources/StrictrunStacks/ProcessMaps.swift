import StrictrunSystem

// /proc/PID/maps as the unwinder keeps it: parsed once per process (by the system layer's one
// parser) and re-read only when a pc falls outside every known mapping.

typealias Mapping = StrictrunSystem.Mapping
typealias MappingKind = StrictrunSystem.MappingKind

/// A process's mappings: parsed from the maps text, or asked of the kernel address by address.
struct ProcessMaps {
    private var maps: MemoryMaps
    private var live: MappingQuery?

    /// The parsed mappings, sorted by start address (none for a live query).
    var mappings: [Mapping] { maps.mappings }

    init(mappings: [Mapping]) { maps = MemoryMaps(mappings: mappings) }

    /// Read and parse /proc/PID/maps.
    static func read(pid: Int32) throws(StackError) -> ProcessMaps {
        let bytes = try SystemCalls.readFile("/proc/\(pid)/maps")
        return ProcessMaps(parsing: bytes)
    }

    /// The mappings of a live process as the unwinder needs them: only those its pcs fall in,
    /// asked one at a time (`MappingQuery`: PROCMAP_QUERY, or the maps text where the kernel has
    /// none). What was asked is kept; a fresh one sees the mappings as they are now.
    static func live(pid: Int32) throws(StackError) -> ProcessMaps {
        guard let query = MappingQuery(pid: pid) else { return try read(pid: pid) }
        var maps = ProcessMaps(mappings: [])
        maps.live = query
        return maps
    }

    /// Parse the text of a maps file. Malformed lines are skipped.
    init(parsing bytes: [UInt8]) { maps = MemoryMaps(parsing: bytes) }

    /// The mapping holding `address`.
    func mapping(containing address: UInt64) -> Mapping? {
        if let live { return live.mapping(containing: address) }
        return maps.mapping(containing: address)
    }
}
