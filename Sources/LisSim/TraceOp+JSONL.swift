import Foundation
import LisCore

/// `trace.jsonl`: one JSON object per line, exactly the keys below, in this order on output.
extension TraceOp {
    static let jsonKeys = ["t_ms", "region", "client", "op", "volume", "offset", "length"]

    /// This operation as one line of `trace.jsonl` (without the newline). The key order,
    /// spacing and number format are fixed so that an export is byte-for-byte reproducible.
    var jsonLine: String {
        "{\"t_ms\": \(Self.formatTimeMs(tMs)), \"region\": \(Self.jsonString(region.name)), "
            + "\"client\": \(Self.jsonString(client)), \"op\": \"\(op.rawValue)\", "
            + "\"volume\": \(Self.jsonString(volume.name)), \"offset\": \(offset), \"length\": \(length)}"
    }

    /// `ms` with one to three decimals, as few as represent it exactly to the microsecond
    /// (`61000.0`, `14.648`). The caller guarantees `0 ≤ ms ≤ maxTimeMs`.
    static func formatTimeMs(_ ms: Double) -> String {
        let us = Int64((ms * 1000).rounded())
        var fraction = String(us % 1000)
        fraction = String(repeating: "0", count: 3 - fraction.count) + fraction
        while fraction.count > 1 && fraction.hasSuffix("0") { fraction.removeLast() }
        return "\(us / 1000).\(fraction)"
    }

    /// A JSON string literal for `text`.
    static func jsonString(_ text: String) -> String { JSON.string(text).rendered }

    /// Parses the contents of `trace.jsonl` (named `file` in errors) against the scenario's
    /// regions and volumes. Blank lines are skipped; every other line must be one operation,
    /// and times must not go backwards, so the result is already in replay order.
    static func parseJSONL(
        _ data: Data, file: String, regions: [RegionID], volumes: [VolumeSpec]
    ) throws(ScenarioError) -> [TraceOp] {
        let context = LineContext(file: file, regions: regions, volumes: volumes)
        let bytes = [UInt8](data)
        var ops: [TraceOp] = []
        var lineNumber = 0
        var start = 0
        while start < bytes.count {
            lineNumber += 1
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.count
            let line = bytes[start..<end]
            start = end + 1
            if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
            let op = try context.parse(line, number: lineNumber)
            if let previous = ops.last, op.tMs < previous.tMs {
                throw context.error(
                    lineNumber, key: "t_ms",
                    "\(formatTimeMs(op.tMs)) is before the previous operation's \(formatTimeMs(previous.tMs)); "
                        + "a trace must be sorted by t_ms (non-decreasing)")
            }
            ops.append(op)
        }
        return ops
    }
}

/// What one trace line is checked against.
private struct LineContext {
    let file: String
    let regions: [RegionID]
    let regionSet: Set<RegionID>
    let volumes: [VolumeName: VolumeSpec]
    let volumeNames: [VolumeName]

    init(file: String, regions: [RegionID], volumes: [VolumeSpec]) {
        self.file = file
        self.regions = regions
        regionSet = Set(regions)
        self.volumes = Dictionary(volumes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        volumeNames = volumes.map(\.name)
    }

    func error(_ line: Int, key: String? = nil, _ message: String) -> ScenarioError {
        ScenarioError(file: file, line: line, key: key, message: message)
    }

    func parse(_ line: ArraySlice<UInt8>, number: Int) throws(ScenarioError) -> TraceOp {
        let parsed: Any
        do {
            parsed = try JSONSerialization.jsonObject(with: Data(line))
        } catch {
            throw self.error(number, "not valid JSON; expected one object per line like {\"t_ms\": 0.0, …}")
        }
        guard let object = parsed as? [String: Any] else {
            throw self.error(number, "expected a JSON object, found another JSON value")
        }
        // Sorted, so the key reported does not depend on the dictionary's order.
        if let unknown = object.keys.filter({ !TraceOp.jsonKeys.contains($0) }).sorted().first {
            throw self.error(
                number, key: unknown,
                "unknown key; a trace line has exactly the keys \(TraceOp.jsonKeys.joined(separator: ", "))")
        }
        if let missing = TraceOp.jsonKeys.first(where: { object[$0] == nil }) {
            throw self.error(number, key: missing, "missing key")
        }

        let tMs = try time(object["t_ms"], line: number)
        let region = RegionID(try string(object["region"], key: "region", line: number))
        guard regionSet.contains(region) else {
            throw self.error(
                number, key: "region",
                "unknown region \"\(region)\"; the scenario's regions are "
                    + regions.map(\.name).joined(separator: ", "))
        }
        let client = try string(object["client"], key: "client", line: number)
        guard !client.isEmpty else { throw self.error(number, key: "client", "must not be empty") }
        let opText = try string(object["op"], key: "op", line: number)
        guard let op = OpKind(rawValue: opText) else {
            throw self.error(
                number, key: "op",
                "unknown op \"\(opText)\"; expected one of \(OpKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let volumeName = VolumeName(try string(object["volume"], key: "volume", line: number))
        guard let volume = volumes[volumeName] else {
            throw self.error(
                number, key: "volume",
                "unknown volume \"\(volumeName)\"; the scenario's volumes are "
                    + volumeNames.map(\.name).joined(separator: ", "))
        }
        let offset = try unsigned(object["offset"], key: "offset", line: number)
        let length = try unsigned(object["length"], key: "length", line: number)

        if op == .flush {
            // A flush covers the whole volume; its range is required for a uniform format
            // but carries no meaning, so it is normalised away.
            return TraceOp(tMs: tMs, region: region, client: client, op: op, volume: volumeName, offset: 0, length: 0)
        }
        guard length > 0 else { throw self.error(number, key: "length", "must be > 0 for a \(op.rawValue)") }
        guard offset <= volume.sizeBytes, length <= volume.sizeBytes - offset else {
            throw self.error(
                number, key: "offset",
                "offset \(offset) + length \(length) is beyond the end of volume \"\(volumeName)\" "
                    + "(\(volume.sizeBytes) bytes)")
        }
        return TraceOp(
            tMs: tMs, region: region, client: client, op: op, volume: volumeName, offset: offset, length: length)
    }

    private func string(_ value: Any?, key: String, line: Int) throws(ScenarioError) -> String {
        guard let text = value as? String else { throw error(line, key: key, "must be a string") }
        return text
    }

    private func time(_ value: Any?, line: Int) throws(ScenarioError) -> Double {
        let ms: Double
        switch JSONNumber(value) {
        case .integer(let n): ms = Double(n)
        case .unsigned(let n): ms = Double(n)
        case .float(let x): ms = x
        case nil: throw error(line, key: "t_ms", "must be a number (milliseconds)")
        }
        guard ms >= 0, ms <= TraceOp.maxTimeMs else {
            throw error(line, key: "t_ms", "must be from 0 to \(Int64(TraceOp.maxTimeMs)) ms, got \(ms)")
        }
        return TraceOp.canonicalTimeMs(ms)
    }

    private func unsigned(_ value: Any?, key: String, line: Int) throws(ScenarioError) -> UInt64 {
        switch JSONNumber(value) {
        case .integer(let n) where n >= 0: return UInt64(n)
        case .unsigned(let n): return n
        case .integer: throw error(line, key: key, "must not be negative")
        case .float, nil: throw error(line, key: key, "must be an integer (bytes)")
        }
    }
}

/// A JSON number as `JSONSerialization` returns it, told apart by its storage type: that is
/// the only way to reject `4096.0` as a byte count or `true` (also an `NSNumber`) as a number.
private enum JSONNumber {
    case integer(Int64)
    case unsigned(UInt64)
    case float(Double)

    init?(_ value: Any?) {
        guard let number = value as? NSNumber else { return nil }
        switch UInt8(bitPattern: number.objCType.pointee) {
        case UInt8(ascii: "c"), UInt8(ascii: "B"): return nil  // a JSON boolean
        case UInt8(ascii: "d"), UInt8(ascii: "f"): self = .float(number.doubleValue)
        case UInt8(ascii: "Q"), UInt8(ascii: "L"), UInt8(ascii: "I"), UInt8(ascii: "S"), UInt8(ascii: "C"):
            self = .unsigned(number.uint64Value)
        default: self = .integer(number.int64Value)
        }
    }
}
