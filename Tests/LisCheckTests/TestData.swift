import Foundation
import Testing

/// The reference data kept in the repository: `testdata/jepsen-etcd` under the package root,
/// which is three levels up from this file.
enum TestData {
    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let jepsenDirectory = packageRoot
        .appendingPathComponent("testdata/jepsen-etcd")

    /// One line of `verdicts.txt`.
    struct Reference: Sendable, CustomTestStringConvertible {
        var file: String
        var linearizable: Bool
        var testDescription: String { "\(file) \(linearizable ? "linearizable" : "not-linearizable")" }
    }

    /// The lines of `verdicts.txt`, or none if it cannot be read (a separate test insists
    /// that there are 70, so a missing file fails rather than passing vacuously).
    static let references: [Reference] = (try? loadReferences()) ?? []

    static func loadReferences() throws -> [Reference] {
        let text = try String(contentsOf: jepsenDirectory.appendingPathComponent("verdicts.txt"), encoding: .utf8)
        return try text.split(separator: "\n").map { line in
            let fields = line.split(separator: " ")
            guard fields.count == 2, ["linearizable", "not-linearizable"].contains(fields[1]) else {
                throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "bad verdicts line: \(line)"])
            }
            return Reference(file: String(fields[0]), linearizable: fields[1] == "linearizable")
        }
    }

    static func jepsenText(_ file: String) throws -> String {
        try String(contentsOf: jepsenDirectory.appendingPathComponent(file), encoding: .utf8)
    }
}
