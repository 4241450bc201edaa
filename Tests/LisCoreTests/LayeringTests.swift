import Foundation
import Testing

/// STYLE.md's layering, checked on the sources so it cannot rot: LisCore is pure (no I/O,
/// clocks, randomness, tasks or logging) and LisSim reaches the outside world only through
/// files it is asked to read or write.
@Suite struct LayeringTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static func sources(of module: String) throws -> [(String, String)] {
        let dir = root.appendingPathComponent("Sources/\(module)")
        let files = FileManager.default.enumerator(atPath: dir.path)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
        return try files.sorted().map { ($0, try String(contentsOf: dir.appendingPathComponent($0), encoding: .utf8)) }
    }

    static func imports(_ text: String) -> [String] {
        text.split(separator: "\n").compactMap { line in
            let l = line.trimmingCharacters(in: .whitespaces)
            guard l.hasPrefix("import ") || l.hasPrefix("@testable import ") else { return nil }
            return l.split(separator: " ").last.map(String.init)
        }
    }

    @Test func coreImportsNothingWithEffects() throws {
        let allowed: Set<String> = ["DequeModule", "HeapModule", "OrderedCollections", "Collections", "TOMLKit"]
        let files = try Self.sources(of: "LisCore")
        #expect(files.count > 5)
        for (file, text) in files {
            for module in Self.imports(text) {
                // The C math library, for the policies' logarithms, in one file that uses nothing else.
                if file.hasSuffix("Policy/Math.swift") && ["Glibc", "Darwin"].contains(module) { continue }
                #expect(allowed.contains(module), "LisCore/\(file) imports \(module)")
            }
        }
    }

    @Test func coreCallsNoClockRandomnessIOOrTasks() throws {
        let forbidden = [
            "Date(", "ContinuousClock", "SuspendingClock", "DispatchTime", ".random(", "SystemRandomNumberGenerator",
            "Task {", "Task.detached", "DispatchQueue", "FileManager", "fopen(", "print(", "Logger(",
        ]
        for (file, text) in try Self.sources(of: "LisCore") {
            for word in forbidden {
                #expect(!text.contains(word), "LisCore/\(file) uses \(word)")
            }
        }
    }

    /// Mutants (protections switched off) are for the simulator only.
    @Test func theNodeCannotSetAMutant() throws {
        for module in ["LisNode", "LisNBD", "LisHTTP", "LisWire"] {
            for (file, text) in try Self.sources(of: module) {
                #expect(!text.contains("@_spi(Simulation)"), "\(module)/\(file) imports the simulator's SPI")
                #expect(!text.contains("mutant"), "\(module)/\(file) mentions a mutant")
            }
        }
    }

    /// The wire is bytes in, messages out: no sockets, files or clocks, so it is tested alone.
    @Test func wireDoesNoIO() throws {
        let allowed: Set<String> = ["LisCore", "NIOCore", "NIOFoundationCompat", "Foundation", "Crypto"]
        let files = try Self.sources(of: "LisWire")
        #expect(files.count >= 3)
        for (file, text) in files {
            for module in Self.imports(text) {
                #expect(allowed.contains(module), "LisWire/\(file) imports \(module)")
            }
            #expect(!text.contains("FileManager") && !text.contains("Date("), "LisWire/\(file) does I/O or reads a clock")
        }
    }

    @Test func simulatorUsesOnlyTheCore() throws {
        let allowed: Set<String> = [
            "LisCore", "LisCheck", "Foundation", "TOMLKit", "DequeModule", "HeapModule", "OrderedCollections", "Collections",
        ]
        for (file, text) in try Self.sources(of: "LisSim") {
            for module in Self.imports(text) {
                #expect(allowed.contains(module), "LisSim/\(file) imports \(module)")
            }
        }
    }
}
