/// Why a scenario could not be loaded or exported: the file, the key or line at fault, and
/// what is wrong, so the user can fix the file without reading the loader.
///
/// Printed as `scenario.toml: volume[0].size: …` or `trace.jsonl:17: …`.
public struct ScenarioError: Error, CustomStringConvertible, Equatable {
    /// The path that was read or written.
    public var file: String
    /// The 1-based line, when the problem is on one line (trace lines, TOML syntax errors).
    public var line: Int?
    /// The dotted key path (`volume[0].size`, `migration.min_latency_factor`), when one is at fault.
    public var key: String?
    public var message: String

    public init(file: String, line: Int? = nil, key: String? = nil, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        var text = file
        if let line { text += ":\(line)" }
        text += ": "
        if let key { text += "\(key): " }
        return text + message
    }
}
