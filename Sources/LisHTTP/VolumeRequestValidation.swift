import LisCore

/// The rules a volume request must follow, shared by the node (which answers with these
/// errors as 400s) and the CLI (which checks before it sends, so a typo fails at once). Every
/// error names the field, what was given and what is allowed.
///
/// Whether a region exists in the cluster is not checked here: only the node knows that.
public enum VolumeRequestValidation {
    /// A volume's size must be a multiple of this: the page size, which every NBD client and
    /// guest file system can address, and a whole number of 512-byte and 4K sectors.
    public static let sizeAlignmentBytes: UInt64 = 4096
    /// The largest volume, 1 PiB: far above any VM disk, and it keeps `size + block size` and
    /// a block count of 64 KiB blocks far from overflow.
    public static let maxVolumeSizeBytes: UInt64 = 1 << 50
    /// The longest region name accepted.
    public static let maxRegionNameBytes = 64

    /// The volume a create request asks for, with the node's defaults for the fields it
    /// leaves out (`block_size`, `survive`) and the node's own region as `home`.
    public static func spec(from request: CreateVolumeRequest, defaults: VolumeDefaults, localRegion: RegionID)
        throws(APIError) -> VolumeSpec
    {
        let name = try name(request.name)
        let sizeBytes = try size(request.size)
        let blockSizeBytes = try request.block_size.map { value throws(APIError) in try blockSize(value) }
            ?? defaults.blockSizeBytes
        let home = try request.home.map { text throws(APIError) in try region(text, key: "home") } ?? localRegion
        let survive = try request.survive.map { text throws(APIError) in try survival(text) } ?? defaults.survive
        let allowed = try request.allowed_regions.map { names throws(APIError) in
            try allowedRegions(names, home: home)
        }
        return VolumeSpec(
            name: name, sizeBytes: sizeBytes, blockSizeBytes: blockSizeBytes, home: home, survive: survive,
            allowedRegions: allowed)
    }

    /// A volume name (`VolumeName.problem(with:)` says what is allowed).
    public static func name(_ text: String, key: String = "name") throws(APIError) -> VolumeName {
        if let problem = VolumeName.problem(with: text) {
            throw .badRequest("\(key) \"\(text)\": \(problem)")
        }
        return VolumeName(text)
    }

    /// A volume size: above 0, a multiple of 4 KiB, at most 1 PiB.
    public static func size(_ value: SizeValue, key: String = "size") throws(APIError) -> UInt64 {
        let bytes = try parse(value, key: key)
        let rule = "a volume size is a multiple of 4KiB from 4KiB to \(ByteSize.format(maxVolumeSizeBytes)), such as \"20G\""
        if bytes == 0 { throw .badRequest("\(key) must be above 0 bytes; \(rule)") }
        if bytes > maxVolumeSizeBytes {
            throw .badRequest("\(key) \(value) is too large; \(rule)")
        }
        if bytes % sizeAlignmentBytes != 0 {
            let roundedUp = (bytes / sizeAlignmentBytes + 1) * sizeAlignmentBytes
            throw .badRequest(
                "\(key) \(value) (\(bytes) bytes) is not a multiple of 4KiB; \(rule) "
                    + "(the next one up is \(ByteSize.format(roundedUp)), \(roundedUp) bytes)")
        }
        return bytes
    }

    /// A block size: a power of two within `VolumeSpec.minBlockSizeBytes...maxBlockSizeBytes`.
    public static func blockSize(_ value: SizeValue, key: String = "block_size") throws(APIError) -> UInt64 {
        let bytes = try parse(value, key: key)
        let range = VolumeSpec.minBlockSizeBytes...VolumeSpec.maxBlockSizeBytes
        if !range.contains(bytes) || bytes & (bytes - 1) != 0 {
            throw .badRequest(
                "\(key) \(value) is not allowed; a block size is a power of two from "
                    + "\(ByteSize.format(range.lowerBound)) to \(ByteSize.format(range.upperBound)): "
                    + "64K, 128K, 256K, 512K, 1M, 2M, 4M, 8M, 16M, 32M or 64M")
        }
        return bytes
    }

    /// `node` or `region`.
    public static func survival(_ text: String, key: String = "survive") throws(APIError) -> Survival {
        guard let survive = Survival(rawValue: text) else {
            let allowed = Survival.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: " or ")
            throw .badRequest("\(key) \"\(text)\" is not allowed; use \(allowed)")
        }
        return survive
    }

    /// A region name: 1 to 64 bytes, no spaces, control characters or commas (the CLI takes
    /// lists as `a,b`).
    public static func region(_ text: String, key: String) throws(APIError) -> RegionID {
        let rule = "a region name is 1 to \(maxRegionNameBytes) bytes without spaces or commas, such as \"nyc\""
        if text.isEmpty { throw .badRequest("\(key) is empty; \(rule)") }
        if text.utf8.count > maxRegionNameBytes { throw .badRequest("\(key) \"\(text)\" is too long; \(rule)") }
        if text.unicodeScalars.contains(where: { $0 == "," || $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }) {
            throw .badRequest("\(key) \"\(text)\" is not a region name; \(rule)")
        }
        return RegionID(text)
    }

    /// The regions that may hold a volume's blocks: at least one, no repeats, and `home` among
    /// them (the home region holds every block that never moved).
    public static func allowedRegions(_ names: [String], home: RegionID, key: String = "allowed_regions")
        throws(APIError) -> [RegionID]
    {
        if names.isEmpty {
            throw .badRequest("\(key) is empty; name at least the home region \(home), or leave it out to allow every region")
        }
        var regions: [RegionID] = []
        for (index, name) in names.enumerated() {
            let region = try region(name, key: "\(key)[\(index)]")
            if regions.contains(region) { throw .badRequest("\(key) names \(region) twice; name each region once") }
            regions.append(region)
        }
        if !regions.contains(home) {
            throw .badRequest(
                "\(key) [\(names.joined(separator: ", "))] must include the home region \(home), which holds every "
                    + "block that never moved; add it, or choose a home among them")
        }
        return regions
    }

    /// The bytes of a size as written, before the rules of what it sizes.
    private static func parse(_ value: SizeValue, key: String) throws(APIError) -> UInt64 {
        switch value {
        case .bytes(let bytes):
            return bytes
        case .text(let text):
            do {
                return try ByteSize.parse(text)
            } catch {
                throw .badRequest("\(key) \(error)")
            }
        }
    }
}
