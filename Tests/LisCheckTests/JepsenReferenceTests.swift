import LisCheck
import Testing

/// Agreement with the reference verdicts of the 70 Jepsen etcd histories (see the README next
/// to them): a checker is trusted only once it agrees on all of them.
@Suite struct JepsenReferenceTests {
    @Test func allSeventyReferenceHistoriesArePresent() throws {
        let references = try TestData.loadReferences()
        #expect(references.count == 70)
        #expect(references.filter(\.linearizable).count == 14)
    }

    @Test(arguments: TestData.references)
    func agreesWithReference(_ reference: TestData.Reference) throws {
        let history = try JepsenHistory.parse(try TestData.jepsenText(reference.file))
        let result = LinearizabilityChecker.run(model: RegisterModel(), history: history)
        switch result.verdict {
        case .linearizable:
            #expect(reference.linearizable, "\(reference.file): checker says linearizable")
        case .notLinearizable(let partition, let explanation):
            #expect(!reference.linearizable, "\(reference.file): checker says not linearizable:\n\(explanation)")
            #expect(partition == 0)
            #expect(explanation.contains("Longest linearizable prefix"))
        case .unknown(let reason):
            Issue.record("\(reference.file): unknown (\(reason))")
        }
    }
}
