import Foundation
import Testing

/// LisCheck stays pure: it imports nothing and reads no clock, randomness, files or tasks, so
/// a check is replayed exactly (the deadline is the caller's closure).
@Suite struct LisCheckLayeringTests {
    @Test func checkerImportsNothingAndCallsNoEffects() throws {
        let directory = TestData.packageRoot.appendingPathComponent("Sources/LisCheck")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".swift") }.sorted()
        #expect(files.count > 5)
        let forbidden = [
            "import ", "Date(", "ContinuousClock", "SuspendingClock", "DispatchTime", ".random(", "SystemRandomNumberGenerator",
            "Task {", "Task.detached", "DispatchQueue", "FileManager", "fopen(", "print(",
        ]
        for file in files {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            for word in forbidden {
                #expect(!text.contains(word), "LisCheck/\(file) uses \(word)")
            }
        }
    }
}
