@testable import LisCore
import Testing

/// The per-role types NodeCore routes to, on their own: a holder's term, the forwarder and the
/// flush coordinator. Each test drives one type's transitions by hand.
@Suite struct RoleTypesTests {
    static let nyc = RegionID("nyc")
    static let london = RegionID("london")
    static let nyc1 = NodeID("nyc-1")
    static let nyc2 = NodeID("nyc-2")
    static let nyc3 = NodeID("nyc-3")
    static let lon1 = NodeID("london-1")
    static let lon2 = NodeID("london-2")
    static let lon3 = NodeID("london-3")
    static let key = BlockKey(VolumeName("vm"), BlockID(0))
    static let map = ClusterMap(
        nodes: [(nyc1, nyc), (nyc2, nyc), (nyc3, nyc), (lon1, london), (lon2, london), (lon3, london)], volumes: []
    ) { a, b in a == b ? 0.5 : 70 }

    static func at(_ epoch: UInt64, _ version: UInt64) -> LogPosition { LogPosition(epoch: Epoch(epoch), version: version) }

    /// A term at epoch 2 with Q2 = New York and London, and writes 1…n pending.
    static func term(pending n: Int) -> HolderTerm {
        var term = HolderTerm(epoch: Epoch(2), quorumRegions: [nyc, london], start: at(1, 5))
        for v in 1...n {
            var tally = QuorumTally(regions: [nyc, london], map: map)
            tally.add(nyc1)
            term.pendingWrites[Version(5 + v)] = HolderTerm.PendingWrite(
                tally: tally, reply: .client(ClientRequestID(v)), write: BlockWrite(offset: 0, length: 1, data: .zeros),
                position: at(2, UInt64(5 + v)), previous: v == 1 ? at(1, 5) : at(2, UInt64(4 + v)), startedAt: .zero)
        }
        return term
    }

    /// Writes complete in order, and only once a majority of every Q2 region has them.
    @Test func writesCompleteInOrderOnAMajorityOfEveryRegion() {
        var term = Self.term(pending: 3)
        #expect(term.committed(Self.at(2, 8)) == Self.at(1, 5))
        #expect(term.copyReached(Self.nyc2, Self.at(2, 7), exact: false).isEmpty, "London has none of them")
        #expect(term.copyReached(Self.lon1, Self.at(2, 8), exact: false).isEmpty, "one of three London nodes")
        let done = term.copyReached(Self.lon2, Self.at(2, 8), exact: false)
        #expect(done.map(\.position) == [Self.at(2, 6), Self.at(2, 7)], "write 8 lacks a second New York copy")
        #expect(term.committed(Self.at(2, 8)) == Self.at(2, 7))
        #expect(term.copyReached(Self.nyc3, Self.at(1, 5), exact: true).isEmpty, "a copy of another epoch counts for nothing")
        #expect(term.copies[Self.nyc3] == Self.at(1, 5))
    }

    /// The watermark is the highest version a majority of every Q2 region synced in this
    /// epoch; syncs of other epochs and of unknown nodes count for nothing.
    @Test func theWatermarkNeedsAMajorityOfEveryRegion() {
        var term = Self.term(pending: 1)
        let own = Self.at(2, 9)
        term.synced(Self.nyc1, at: Self.at(2, 9), own: own, map: Self.map, mutant: nil)
        term.synced(Self.nyc2, at: Self.at(2, 8), own: own, map: Self.map, mutant: nil)
        term.synced(Self.lon1, at: Self.at(2, 9), own: own, map: Self.map, mutant: nil)
        #expect(term.durableVersion == 0, "one London node is not a majority")
        term.synced(Self.lon2, at: Self.at(1, 9), own: own, map: Self.map, mutant: nil)
        term.synced(NodeID("stranger"), at: Self.at(2, 9), own: own, map: Self.map, mutant: nil)
        #expect(term.durableVersion == 0)
        term.synced(Self.lon3, at: Self.at(2, 7), own: own, map: Self.map, mutant: nil)
        #expect(term.durableVersion == 7, "London's second-highest is 7, New York's 8")
        term.synced(Self.lon3, at: Self.at(2, 6), own: own, map: Self.map, mutant: nil)
        #expect(term.durableVersion == 7, "the watermark never goes back")
    }

    /// A flushed write is durable once the watermark passes it; one the log does not contain
    /// is lost, whatever the watermark says.
    @Test func flushOutcomes() {
        var term = Self.term(pending: 1)
        var copy = Replica()
        var effects: [NodeEffect] = []
        copy.append(Self.key, BlockWrite(offset: 0, length: 1, data: .zeros, id: RequestID(origin: Self.nyc1, seq: 9)), at: Self.at(2, 6), durable: false, &effects)
        let mine = WriteRef(id: RequestID(origin: Self.nyc1, seq: 9), position: Self.at(2, 6))
        #expect(term.flushOutcome(mine, copy: copy) == nil, "not synced yet")
        for node in [Self.nyc1, Self.nyc2, Self.lon1, Self.lon2] {
            term.synced(node, at: Self.at(2, 6), own: Self.at(2, 6), map: Self.map, mutant: nil)
        }
        #expect(term.flushOutcome(mine, copy: copy) == .durable)
        let beyondLog = WriteRef(id: RequestID(origin: Self.nyc1, seq: 10), position: Self.at(2, 7))
        #expect(term.flushOutcome(beyondLog, copy: copy) == .lost)
        let inStart = WriteRef(id: RequestID(origin: Self.lon1, seq: 3), position: Self.at(1, 4))
        #expect(term.flushOutcome(inStart, copy: copy) == .durable, "the term's start is durable")
        let otherHistory = WriteRef(id: RequestID(origin: Self.lon1, seq: 4), position: Self.at(0, 2))
        #expect(term.flushOutcome(otherHistory, copy: copy) == .lost, "an epoch the copy cannot place")
    }

    /// A copy ahead in this term's epoch counts as caught up and is never repaired back.
    @Test func repairAsksOnlyLaggingCopies() {
        var term = Self.term(pending: 1)
        term.copies = [Self.nyc2: Self.at(1, 5), Self.nyc3: Self.at(2, 6), Self.lon1: Self.at(1, 4)]
        let lagging = term.askLagging([Self.nyc2, Self.nyc3, Self.lon1, Self.lon2], committed: Self.at(1, 5))
        #expect(lagging == [Self.lon1, Self.lon2])
        #expect(term.asked == [Self.lon1: Self.at(1, 5), Self.lon2: Self.at(1, 5)])
    }

    /// A forwarded operation fails after too many redirects; attempts are counted per send.
    @Test func forwarderBoundsHopsAndCountsAttempts() {
        var forwarder = Forwarder()
        let request = RequestID(origin: Self.nyc1, seq: 1)
        forwarder.start(request, Outgoing(key: Self.key, op: .read(offset: 0, length: 1), client: 1, issuedAt: .zero, target: Self.lon1, hops: 0))
        let first = forwarder.sending(request, targetRun: 3)
        #expect(first?.0.attempt == 1 && first?.sentEarlier == nil, "nothing sent to London before")
        // London restarted meanwhile (run 4): the retry still names the run that got the first.
        let second = forwarder.sending(request, targetRun: 4)
        #expect(second?.0.attempt == 2 && second?.sentEarlier == 3)
        for hop in 1...Forwarder.maxHops { #expect(forwarder.redirected(request)?.hops == hop) }
        #expect(forwarder.redirected(request) == nil, "one hop too many")
        #expect(forwarder[request] == nil, "and it is no longer awaited")
        #expect(forwarder.sending(request, targetRun: 4) == nil)
    }

    /// Flushes are answered in the order they arrived, and a `lost` item fails its flush.
    @Test func flushCoordinatorAnswersInOrder() {
        var flush = FlushCoordinator()
        flush.acknowledged(Self.key, RequestID(origin: Self.nyc1, seq: 1), Self.at(0, 1), holder: Self.lon1, fua: false)
        flush.acknowledged(Self.key, RequestID(origin: Self.nyc1, seq: 2), Self.at(0, 2), holder: Self.lon1, fua: false)
        flush.acknowledged(Self.key, RequestID(origin: Self.nyc1, seq: 0), Self.at(0, 0), holder: Self.lon1, fua: false)
        let first = flush.begin(1, client: 10)
        #expect(first.map(\.write.position) == [Self.at(0, 2)], "the newest write per block and epoch")
        flush.acknowledged(Self.key, RequestID(origin: Self.nyc1, seq: 3), Self.at(0, 3), holder: Self.lon1, fua: false)
        let second = flush.begin(2, client: 11)
        #expect(flush.asked(2, second[0]) == Self.lon1)
        flush.settle(2, second[0], lost: true)
        #expect(flush.completed().isEmpty, "the first flush is still open")
        flush.reask(1, first[0], Self.lon2)
        #expect(flush.asked(1, first[0]) == Self.lon2)
        flush.settle(1, first[0], lost: false)
        let done = flush.completed()
        #expect(done.map(\.client) == [10, 11])
        #expect(done.map(\.lost) == [false, true])
    }

    /// A FUA write is durable when it is acknowledged: no flush vouches for it.
    @Test func aFlushDoesNotVouchForFUAWrites() {
        var flush = FlushCoordinator()
        flush.acknowledged(Self.key, RequestID(origin: Self.nyc1, seq: 1), Self.at(0, 1), holder: Self.lon1, fua: true)
        #expect(flush.begin(1, client: 10).isEmpty)
        #expect(flush.completed().map(\.client) == [10], "a flush with nothing to vouch for is answered at once")
        flush.acknowledged(Self.key, RequestID(origin: Self.nyc1, seq: 2), Self.at(0, 2), holder: Self.lon1, fua: false)
        #expect(flush.begin(2, client: 11).map(\.write.position) == [Self.at(0, 2)])
    }
}
