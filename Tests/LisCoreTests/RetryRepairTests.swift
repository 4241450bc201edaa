@testable import LisCore
import Testing

/// What the core does when messages are lost, duplicated or late, and when nodes restart:
/// resends, repair of copies that missed writes, and renewal of stalled claims. Each test
/// plays the messages by hand in a New York region of three nodes (Q2 = two of them) with a
/// London async copy.
@Suite struct RetryRepairTests {
    static let nyc1 = NodeID("nyc-1")
    static let nyc2 = NodeID("nyc-2")
    static let nyc3 = NodeID("nyc-3")
    static let london = NodeID("london-1")
    static let volume = VolumeSpec(
        name: VolumeName("vm"), sizeBytes: 64 << 20, blockSizeBytes: 1 << 20, home: RegionID("nyc"))
    static let key = BlockKey(VolumeName("vm"), BlockID(3))

    static func node(_ id: NodeID) -> NodeCore {
        let map = ClusterMap(
            nodes: [(nyc1, RegionID("nyc")), (nyc2, RegionID("nyc")), (nyc3, RegionID("nyc")), (london, RegionID("london"))],
            volumes: [volume]
        ) { a, b in a == b ? 0.5 : 70 }
        return NodeCore(id: id, map: map, migration: MigrationConfig(), policy: PolicyConfig())
    }

    static func write(_ tag: UInt8) -> BlockOp {
        .write(BlockWrite(offset: 0, length: 4096, data: .bytes([tag])))
    }

    static func sent(_ effects: [NodeEffect]) -> [(NodeID, PeerMessage)] {
        effects.compactMap { if case .send(let to, let e) = $0 { (to, e.message) } else { nil } }
    }

    static func timers(_ effects: [NodeEffect]) -> [TimerID] {
        effects.compactMap { if case .armTimer(let t, _) = $0 { t } else { nil } }
    }

    static func peer(_ from: NodeID, _ message: PeerMessage) -> NodeInput {
        .peer(PeerEnvelope(from: from, hlc: .zero, message: message))
    }

    static func position(_ epoch: UInt64, _ version: UInt64) -> LogPosition {
        LogPosition(epoch: Epoch(epoch), version: version)
    }

    /// The holder's accept to nyc-2 is lost and nyc-3 is down: the write waits, the resend
    /// timer sends the accept again, and the write completes when nyc-2 answers.
    @Test func aLostAcceptIsSentAgain() {
        var holder = Self.node(Self.nyc1)
        let first = holder.step(.client(1, Self.key, Self.write(1)), now: .ms(0), wallMs: 0)
        #expect(Self.sent(first).filter { if case .accept = $0.1 { true } else { false } }.count == 2)
        #expect(Self.timers(first).contains(.quorumResend(Self.key, .zero)))
        #expect(!first.contains(.reply(1, .written(Self.position(0, 1)))), "one copy is not a majority of three")

        let resent = holder.step(.timer(.quorumResend(Self.key, .zero)), now: .ms(1000), wallMs: 1000)
        let accepts = Self.sent(resent).filter { if case .accept = $0.1 { true } else { false } }
        #expect(Set(accepts.map(\.0)) == [Self.nyc2, Self.nyc3])
        #expect(Self.timers(resent).contains(.quorumResend(Self.key, .zero)), "keeps asking until answered")

        var copy = Self.node(Self.nyc2)
        let stored = copy.step(.peer(PeerEnvelope(from: Self.nyc1, hlc: .zero, message: accepts.first { $0.0 == Self.nyc2 }!.1)), now: .ms(1001), wallMs: 1001)
        let answer = Self.sent(stored).first!.1
        #expect(answer == .accepted(Self.key, position: Self.position(0, 1), ok: true, promised: .zero))
        let done = holder.step(Self.peer(Self.nyc2, answer), now: .ms(1002), wallMs: 1002)
        #expect(done.contains(.reply(1, .written(Self.position(0, 1)))))
        // A second copy of the same accept is answered from what the copy has, not stored again.
        let again = copy.step(.peer(PeerEnvelope(from: Self.nyc1, hlc: .zero, message: accepts.first { $0.0 == Self.nyc2 }!.1)), now: .ms(1003), wallMs: 1003)
        #expect(!again.contains { if case .persistWrite = $0 { true } else { false } })
    }

    /// A copy that missed an accept refuses the next one (a hole); the holder sends it its log
    /// (an install in the holder's own epoch) and counts the answer for every write it covers.
    @Test func aCopyWithAHoleIsRepaired() {
        var holder = Self.node(Self.nyc1)
        _ = holder.step(.client(1, Self.key, Self.write(1)), now: .ms(0), wallMs: 0)
        let second = holder.step(.client(2, Self.key, Self.write(2)), now: .ms(1), wallMs: 1)
        let v2 = Self.sent(second).first { $0.0 == Self.nyc2 }!.1
        var copy = Self.node(Self.nyc2)
        let refused = copy.step(Self.peer(Self.nyc1, v2), now: .ms(2), wallMs: 2)
        #expect(Self.sent(refused).first!.1 == .accepted(Self.key, position: Self.position(0, 2), ok: false, promised: .zero))

        let repair = holder.step(Self.peer(Self.nyc2, Self.sent(refused).first!.1), now: .ms(3), wallMs: 3)
        guard case .install(_, let epoch, let transfer, let after, let upTo, _)? = Self.sent(repair).first?.1 else {
            Issue.record("expected a repair install, got \(Self.sent(repair))")
            return
        }
        #expect(epoch == .zero && after == .empty && upTo == Self.position(0, 2))
        #expect(transfer == .transfer(Self.key, after: .empty, upTo: Self.position(0, 2)))

        let installed = copy.step(Self.peer(Self.nyc1, Self.sent(repair).first!.1), now: .ms(4), wallMs: 4)
        #expect(copy.position(Self.key) == Self.position(0, 2))
        let done = holder.step(Self.peer(Self.nyc2, Self.sent(installed).first!.1), now: .ms(5), wallMs: 5)
        #expect(done.contains(.reply(1, .written(Self.position(0, 1)))))
        #expect(done.contains(.reply(2, .written(Self.position(0, 2)))))
        // In order: the first write's answer before the second's.
        let replies = done.compactMap { if case .reply(let c, _) = $0 { c } else { nil } }
        #expect(replies == [1, 2])
    }

    /// A late copy of an install (a duplicate, a repair that crossed newer accepts) must never
    /// take a copy back: entries past it in the same epoch may be acknowledged writes.
    @Test func aLateInstallDoesNotTakeACopyBack() {
        var copy = Self.node(Self.nyc2)
        let old = PeerMessage.install(
            Self.key, epoch: Epoch(2), transfer: .bytes([]), after: .empty, upTo: Self.position(2, 1), recent: [])
        _ = copy.step(Self.peer(Self.nyc1, old), now: .ms(0), wallMs: 0)
        _ = copy.step(
            Self.peer(Self.nyc1, .accept(Self.key, position: Self.position(2, 2), previous: Self.position(2, 1), write: BlockWrite(offset: 0, length: 1, data: .bytes([2])))),
            now: .ms(1), wallMs: 1)
        #expect(copy.position(Self.key) == Self.position(2, 2))
        let late = copy.step(Self.peer(Self.nyc1, old), now: .ms(2), wallMs: 2)
        #expect(copy.position(Self.key) == Self.position(2, 2))
        #expect(late.contains(.installTransfer(Self.key, nil, upTo: Self.position(2, 2))), "durable, unchanged")
        #expect(Self.sent(late).first!.1 == .installed(Self.key, epoch: Epoch(2), ok: true, promised: Epoch(2), position: Self.position(2, 2)))
    }

    /// A repair that assumes more than the copy has (it restarted and lost writes it had not
    /// synced) is refused with the copy's real position, never applied over a gap.
    @Test func aRepairAfterAGapIsRefused() {
        var copy = Self.node(Self.nyc2)
        copy.restore(promises: [Self.key: Epoch(2)], positions: [Self.key: Self.position(2, 1)], restarted: true)
        let repair = PeerMessage.install(
            Self.key, epoch: Epoch(2), transfer: .bytes([]), after: Self.position(2, 3), upTo: Self.position(2, 5), recent: [])
        let out = copy.step(Self.peer(Self.nyc1, repair), now: .ms(0), wallMs: 0)
        #expect(!out.contains { if case .installTransfer = $0 { true } else { false } })
        #expect(Self.sent(out).first!.1 == .installed(Self.key, epoch: Epoch(2), ok: false, promised: Epoch(2), position: Self.position(2, 1)))
        #expect(copy.position(Self.key) == Self.position(2, 1))
    }

    /// Swarm seed 164: an async copy ended in a write an old holder stored but never committed
    /// (e0/v1); the next holder's replicate of e1/v2 must not be applied on top of it.
    @Test func anAsyncCopyAppliesOnlyRightAfterTheHoldersPreviousEntry() {
        var copy = Self.node(Self.london)
        copy.restore(promises: [:], positions: [Self.key: Self.position(0, 1)], restarted: false)
        let w = BlockWrite(offset: 0, length: 4096, data: .bytes([9]))
        let out = copy.step(Self.peer(Self.nyc1, .replicate(Self.key, position: Self.position(1, 2), previous: Self.position(1, 1), write: w)), now: .ms(0), wallMs: 0)
        #expect(!out.contains { if case .persistWrite = $0 { true } else { false } })
        #expect(copy.position(Self.key) == Self.position(0, 1))
    }

    /// After writes, the holder asks its copies where they are; one that answers behind what
    /// was committed when asked gets the missing suffix.
    @Test func theHolderRepairsACopyThatMissedReplicates() {
        var holder = Self.node(Self.nyc1)
        _ = holder.step(.client(1, Self.key, Self.write(1)), now: .ms(0), wallMs: 0)
        for peer in [Self.nyc2, Self.nyc3] {
            let out = holder.step(Self.peer(peer, .accepted(Self.key, position: Self.position(0, 1), ok: true, promised: .zero)), now: .ms(1), wallMs: 1)
            if peer == Self.nyc2 {
                #expect(Self.sent(out).contains { $0.0 == Self.london }, "the replicate to London")
                #expect(Self.timers(out).contains(.repair(Self.key, .zero)))
            }
        }
        let round = holder.step(.timer(.repair(Self.key, .zero)), now: .ms(1000), wallMs: 1000)
        #expect(Self.sent(round).map(\.0) == [Self.london], "only the copy whose position is unknown is asked")
        #expect(Self.sent(round).first!.1 == .probeCopy(Self.key, epoch: .zero))
        let repair = holder.step(Self.peer(Self.london, .copyAt(Self.key, epoch: .zero, position: .empty, promised: .zero)), now: .ms(1070), wallMs: 1070)
        guard case .install(_, .zero, _, .empty, let upTo, _)? = Self.sent(repair).first?.1 else {
            Issue.record("expected a repair, got \(Self.sent(repair))")
            return
        }
        #expect(upTo == Self.position(0, 1))
        _ = holder.step(Self.peer(Self.london, .installed(Self.key, epoch: .zero, ok: true, promised: .zero, position: upTo)), now: .ms(1140), wallMs: 1140)
        let quiet = holder.step(.timer(.repair(Self.key, .zero)), now: .ms(2000), wallMs: 2000)
        #expect(Self.sent(quiet).isEmpty && Self.timers(quiet).isEmpty, "every copy caught up: the rounds stop")
    }

    /// A forward with no answer is sent again, and fails after `Forwarder.maxAttempts`.
    @Test func aForwardWithoutAnAnswerIsRetriedThenFails() {
        var origin = Self.node(Self.london)
        let out = origin.step(.client(1, Self.key, Self.write(1)), now: .ms(0), wallMs: 0)
        #expect(Self.sent(out).first?.0 == Self.nyc1)
        var attempt = 1
        var now = 0.0
        var last: [NodeEffect] = out
        while let timer = Self.timers(last).first(where: { if case .forwardTimeout = $0 { true } else { false } }) {
            #expect(timer == .forwardTimeout(RequestID(origin: Self.london, seq: 2), attempt: attempt))
            now += 1200
            last = origin.step(.timer(timer), now: .ms(now), wallMs: Int64(now))
            if case .forward? = Self.sent(last).first?.1 { attempt += 1 }
        }
        #expect(attempt == Forwarder.maxAttempts)
        #expect(last.contains(.reply(1, .failed(.unavailable))))
    }

    /// The holder nyc-1 dies: its keep-alive in Hive lapses. nyc-2's forwarded write gets no
    /// answer; at the timeout it takes the block over (a new epoch, fencing nyc's Q2, where
    /// nyc-2 and nyc-3 are a live majority). With nyc-3 lapsed too no majority could be
    /// fenced: it keeps waiting for the holder.
    @Test func aLapsedHolderIsTakenOverWhenItsQ2HasALiveMajority() {
        for (lapsed, takesOver) in [([Self.nyc1], true), ([Self.nyc1, Self.nyc3], false), ([], false)] {
            var origin = Self.node(Self.nyc2)
            origin.setLapsed(Set(lapsed))
            let out = origin.step(.client(1, Self.key, Self.write(1)), now: .ms(0), wallMs: 0)
            #expect(Self.sent(out).first?.0 == Self.nyc1)
            guard let timer = Self.timers(out).first(where: { if case .forwardTimeout = $0 { true } else { false } }) else {
                Issue.record("expected a forward timeout")
                continue
            }
            let later = origin.step(.timer(timer), now: .ms(1100), wallMs: 1100)
            let claims = later.compactMap { effect -> LeaseRecord? in
                if case .hive(_, .compareAndSet(_, _, let claim)) = effect { claim } else { nil }
            }
            if takesOver {
                #expect(claims.count == 1 && claims.first?.holder == Self.nyc2 && claims.first?.epoch == Epoch(1), "\(later)")
                #expect(later.contains(.event(.stealStarted(Self.key, from: Self.nyc1, reason: .takingOver(Self.nyc1)))))
            } else {
                #expect(claims.isEmpty, "lapsed \(lapsed): \(later)")
            }
        }
    }

    /// A holder whose activation reached Hive but whose answer was lost finds its record
    /// active when it retries, and serves instead of giving up.
    @Test func aLostActivationAnswerStillActivates() {
        var london = Self.node(Self.london)
        let claimOut = london.requestSteal(Self.key, note: "test", now: .ms(0), wallMs: 0)
        guard case .hive(let call, .compareAndSet(_, nil, let claim))? = claimOut.first(where: { if case .hive = $0 { true } else { false } }) else {
            Issue.record("expected the claim")
            return
        }
        var out = london.step(.hive(call, .swapped(Self.key, ok: true, current: claim)), now: .ms(1), wallMs: 1)
        // A majority of New York promises, with nothing to transfer; London is its own Q2.
        for peer in [Self.nyc1, Self.nyc2] {
            out = london.step(Self.peer(peer, .fenced(Self.key, epoch: claim.epoch, position: .empty, transfer: nil, refusedFor: nil)), now: .ms(2), wallMs: 2)
        }
        guard case .hive(let activation, .compareAndSet(_, _, let active))? = out.first(where: { if case .hive = $0 { true } else { false } }) else {
            Issue.record("expected the activation, got \(out)")
            return
        }
        let retry = london.step(.hive(activation, .unavailable(Self.key, reason: "hive unreachable")), now: .ms(1000), wallMs: 1000)
        guard case .hive(let second, _)? = retry.first(where: { if case .hive = $0 { true } else { false } }) else {
            Issue.record("expected a second activation")
            return
        }
        _ = london.step(.hive(second, .swapped(Self.key, ok: false, current: active)), now: .ms(1100), wallMs: 1100)
        #expect(london.servingEpoch(Self.key) == claim.epoch)
    }

    /// A claim Hive refuses because this node's cache is two epochs behind is retried against
    /// Hive's record: the steal goes on, and it still counts as one steal in flight (learning
    /// the newer record once ended it while the retry ran on, uncounted).
    @Test func aClaimRetriedAgainstANewerRecordStaysCounted() {
        var london = Self.node(Self.london)
        let claimOut = london.requestSteal(Self.key, note: "test", now: .ms(0), wallMs: 0)
        guard case .hive(let call, .compareAndSet(_, nil, _))? = claimOut.first(where: { if case .hive = $0 { true } else { false } }) else {
            Issue.record("expected the claim")
            return
        }
        #expect(london.stealsInFlight == 1)
        let term = ActiveTerm(epoch: Epoch(5), holder: Self.nyc2, quorumRegions: [RegionID("nyc")])
        let current = LeaseRecord(epoch: Epoch(5), holder: Self.nyc2, quorumRegions: [RegionID("nyc")], state: .active, lastActive: term)
        let retry = london.step(.hive(call, .swapped(Self.key, ok: false, current: current)), now: .ms(100), wallMs: 100)
        let abandoned = retry.contains { if case .event(.stealAbandoned) = $0 { true } else { false } }
        #expect(!abandoned, "\(retry)")
        guard case .hive(_, .compareAndSet(_, let expected, let claim))? = retry.first(where: { if case .hive = $0 { true } else { false } }) else {
            Issue.record("expected a second claim, got \(retry)")
            return
        }
        #expect(expected == current)
        #expect(claim.epoch == Epoch(6))
        #expect(london.isStealing(Self.key))
        #expect(london.stealsInFlight == 1)
    }

    /// Bad input never crashes a node: a peer outside the cluster map is dropped and counted,
    /// and a lease naming a node the map does not know is forwarded to without a crash.
    @Test func unknownNodesAreNeverACrash() {
        var nyc = Self.node(Self.nyc1)
        let stranger = NodeID("mars-1")
        for message: PeerMessage in [
            .accept(Self.key, position: Self.position(1, 1), previous: .empty, write: BlockWrite(offset: 0, length: 1, data: .zeros)),
            .fence(Self.key, epoch: Epoch(9), have: .empty), .ping(1), .flush(1, []),
        ] {
            let out = nyc.step(Self.peer(stranger, message), now: .ms(0), wallMs: 0)
            #expect(out.isEmpty)
        }
        #expect(nyc.droppedFromUnknownPeers == 4)
        #expect(nyc.promised(Self.key) == .zero, "a stranger's fence promises nothing")

        var london = Self.node(Self.london)
        let term = ActiveTerm(epoch: Epoch(3), holder: stranger, quorumRegions: [RegionID("mars")])
        let record = LeaseRecord(epoch: Epoch(3), holder: stranger, quorumRegions: [RegionID("mars")], state: .active, lastActive: term)
        _ = london.step(.hiveWatch(Self.key, record), now: .ms(0), wallMs: 0)
        let out = london.step(.client(1, Self.key, Self.write(1)), now: .ms(1), wallMs: 1)
        #expect(Self.sent(out).contains { $0.0 == stranger }, "\(out)")
        // Its fence and install from a node of the map, for that stranger's quorum, are answered.
        let fenced = london.step(Self.peer(Self.nyc1, .fence(Self.key, epoch: Epoch(4), have: .empty)), now: .ms(2), wallMs: 2)
        #expect(!Self.sent(fenced).isEmpty)
    }

    /// A node named in a `stealing` record that runs no steal (it crashed during its steal)
    /// renews the claim with a newer epoch as soon as it is asked for the block.
    @Test func aRestartedStealerRenewsItsClaim() {
        var london = Self.node(Self.london)
        london.restore(promises: [Self.key: Epoch(4)], positions: [:], restarted: true)
        // It remembers nothing of the block: it forwards to the home node, which was fenced by
        // London's claim and says so.
        let forward = london.step(.client(1, Self.key, Self.write(1)), now: .ms(0), wallMs: 0)
        guard case (Self.nyc1, .forward(let op))? = Self.sent(forward).first else {
            Issue.record("expected a forward to the home node")
            return
        }
        let term = ActiveTerm(epoch: Epoch(2), holder: Self.nyc1, quorumRegions: [RegionID("nyc")])
        let stalled = LeaseRecord(epoch: Epoch(4), holder: Self.london, quorumRegions: [RegionID("london")], state: .stealing, lastActive: term)
        let ask = london.step(Self.peer(Self.nyc1, .forwardReply(op.id, .redirect(stalled))), now: .ms(70), wallMs: 70)
        guard case .hive(let call, .get)? = ask.first(where: { if case .hive = $0 { true } else { false } }) else {
            Issue.record("expected a lookup, got \(ask)")
            return
        }
        let out = london.step(.hive(call, .record(Self.key, stalled)), now: .ms(70), wallMs: 70)
        guard case .hive(_, .compareAndSet(_, let expected, let claim))? = out.first(where: { if case .hive = $0 { true } else { false } }) else {
            Issue.record("expected a renewed claim, got \(out)")
            return
        }
        #expect(expected == stalled)
        #expect(claim.epoch == Epoch(5) && claim.holder == Self.london && claim.lastActive == term)
    }

    /// A write acknowledged by nyc-1 (holder) with nyc-2's accept; nyc-3 missed it.
    static func acknowledgedWrite(_ node: inout NodeCore, client: ClientRequestID, key: BlockKey, at t: Double) -> LogPosition {
        let out = node.step(.client(client, key, Self.write(UInt8(client))), now: .ms(t), wallMs: Int64(t))
        guard case .accept(_, let position, _, _)? = Self.sent(out).first(where: { $0.0 == Self.nyc2 })?.1 else {
            Issue.record("expected an accept to nyc-2, got \(out)")
            return .empty
        }
        let acked = node.step(Self.peer(Self.nyc2, .accepted(key, position: position, ok: true, promised: position.epoch)), now: .ms(t), wallMs: Int64(t))
        #expect(acked.contains(.reply(client, .written(position))))
        return position
    }

    static func syncToken(_ effects: [NodeEffect]) -> UInt64? {
        effects.compactMap { if case .sync(let t) = $0 { t } else { nil } }.first
    }

    /// The flush's known gap, closed: nyc-2 and nyc-3 answer its sync, but nyc-3's copy lacks
    /// the write, so two syncs are not yet a majority that has it. The flush completes only
    /// when the holder's own sync (which has it) completes.
    @Test func aFlushCountsOnlySyncsOfCopiesThatHaveTheWrites() {
        var holder = Self.node(Self.nyc1)
        let position = Self.acknowledgedWrite(&holder, client: 1, key: Self.key, at: 0)
        let asked = holder.step(.clientFlush(9), now: .ms(1), wallMs: 1)
        #expect(Set(Self.sent(asked).compactMap { if case .syncCopies([Self.key]) = $0.1 { $0.0 } else { nil } }) == [Self.nyc2, Self.nyc3])
        guard let own = Self.syncToken(asked) else {
            Issue.record("the holder syncs its own copy")
            return
        }
        var out = holder.step(Self.peer(Self.nyc3, .copiesSynced([SyncedCopy(key: Self.key, position: .empty)])), now: .ms(2), wallMs: 2)
        out += holder.step(Self.peer(Self.nyc2, .copiesSynced([SyncedCopy(key: Self.key, position: position)])), now: .ms(2), wallMs: 2)
        #expect(!out.contains(.reply(9, .flushed)), "only nyc-2's disk has the write")
        out = holder.step(.synced(own), now: .ms(3), wallMs: 3)
        #expect(out.contains(.reply(9, .flushed)))
    }

    /// A Q2 member reports the position its copy had when its sync started.
    @Test func aQ2MemberReportsWhatItsSyncCovered() {
        var copy = Self.node(Self.nyc2)
        let write = BlockWrite(offset: 0, length: 4096, data: .bytes([1]))
        _ = copy.step(Self.peer(Self.nyc1, .accept(Self.key, position: Self.position(0, 1), previous: .empty, write: write)), now: .ms(0), wallMs: 0)
        let asked = copy.step(Self.peer(Self.nyc1, .syncCopies([Self.key])), now: .ms(1), wallMs: 1)
        #expect(Self.sent(asked).isEmpty, "it answers once the sync completes")
        let synced = copy.step(.synced(Self.syncToken(asked)!), now: .ms(2), wallMs: 2)
        #expect(Self.sent(synced).map(\.1) == [.copiesSynced([SyncedCopy(key: Self.key, position: Self.position(0, 1))])])
    }

    /// Flushes are answered in the order they were asked: a flush covers every write
    /// completed before it, and an earlier flush may be the one still syncing some of them.
    @Test func flushesAnswerInOrder() {
        var holder = Self.node(Self.nyc1)
        let other = BlockKey(VolumeName("vm"), BlockID(4))
        let first = Self.acknowledgedWrite(&holder, client: 1, key: Self.key, at: 0)
        let flush1 = holder.step(.clientFlush(11), now: .ms(1), wallMs: 1)
        let second = Self.acknowledgedWrite(&holder, client: 2, key: other, at: 2)
        let flush2 = holder.step(.clientFlush(12), now: .ms(3), wallMs: 3)
        // The second flush's write becomes durable first (the holder's sync and nyc-2's).
        var out = holder.step(.synced(Self.syncToken(flush2)!), now: .ms(4), wallMs: 4)
        out += holder.step(Self.peer(Self.nyc2, .copiesSynced([SyncedCopy(key: other, position: second)])), now: .ms(4), wallMs: 4)
        #expect(!out.contains(.reply(12, .flushed)), "the first flush is not answered yet")
        out = holder.step(.synced(Self.syncToken(flush1)!), now: .ms(5), wallMs: 5)
        out += holder.step(Self.peer(Self.nyc3, .copiesSynced([SyncedCopy(key: Self.key, position: first)])), now: .ms(5), wallMs: 5)
        let replies = out.compactMap { if case .reply(let c, .flushed) = $0 { c } else { nil } }
        #expect(replies == [11, 12])
    }

    /// A message from a node the cluster map does not know is dropped and counted, never a
    /// crash (every handler may ask for the sender's region).
    @Test func aMessageFromAnUnknownNodeIsDropped() {
        var holder = Self.node(Self.nyc1)
        let stranger = NodeID("mallory-1")
        let out = holder.step(Self.peer(stranger, .flush(1, [FlushItem(key: Self.key, write: WriteRef(id: RequestID(origin: stranger, seq: 1), position: .empty))])), now: .ms(0), wallMs: 0)
        #expect(out.isEmpty)
        #expect(holder.droppedFromUnknownPeers == 1)
    }

    /// An adaptive node arms its time-of-day predictions only with `predictive_migration`.
    @Test func predictionsFollowPredictiveMigration() {
        func armsPredictions(_ predictive: Bool) -> Bool {
            var migration = MigrationConfig()
            migration.predictiveMigration = predictive
            var policy = PolicyConfig()
            policy.name = .adaptive
            var node = NodeCore(id: Self.nyc1, map: Self.node(Self.nyc1).map, migration: migration, policy: policy)
            return Self.timers(node.start(now: .zero, wallMs: 0)).contains(.predict)
        }
        #expect(armsPredictions(true))
        #expect(!armsPredictions(false))
    }

    /// Request ids of a restarted node never repeat those of its earlier runs: a holder that
    /// knows an id answers with the write it has and never applies the new one (swarm seeds
    /// 65, 166).
    @Test func aRestartedNodesRequestIdsAreNew() {
        func firstForward(incarnation: UInt64) -> ForwardedOp? {
            var london = Self.node(Self.london)
            london.restore(promises: [:], positions: [:], restarted: incarnation > 0, incarnation: incarnation)
            let out = london.step(.client(1, Self.key, Self.write(1)), now: .ms(0), wallMs: 0)
            if case .forward(let op)? = Self.sent(out).first?.1 { return op }
            return nil
        }
        let first = firstForward(incarnation: 0)
        let later = firstForward(incarnation: 1)
        guard case .write(let a)? = first?.op, case .write(let b)? = later?.op else {
            Issue.record("expected forwarded writes")
            return
        }
        #expect(a.id != nil && b.id != nil && a.id != b.id)
        #expect(first?.id != later?.id)
    }

    /// A holder answers for the writes a flush names: `lost` for one its log does not hold
    /// (a crash took it before it reached a majority's disks), a redirect from a node that
    /// does not hold the block, `durable` for one at or below its watermark.
    @Test func aHolderAnswersLostRedirectOrDurable() {
        var holder = Self.node(Self.nyc1)
        let position = Self.acknowledgedWrite(&holder, client: 1, key: Self.key, at: 0)
        let ghost = WriteRef(id: RequestID(origin: Self.london, seq: 7), position: Self.position(0, 5))
        let known = WriteRef(id: RequestID(origin: Self.london, seq: 8), position: position)
        var out = holder.step(Self.peer(Self.london, .flush(3, [FlushItem(key: Self.key, write: ghost)])), now: .ms(1), wallMs: 1)
        #expect(Self.sent(out).contains { $0.0 == Self.london && $0.1 == .flushed(3, [FlushVerdict(item: FlushItem(key: Self.key, write: ghost), outcome: .lost)]) })
        out = holder.step(Self.peer(Self.london, .flush(4, [FlushItem(key: Self.key, write: known)])), now: .ms(2), wallMs: 2)
        #expect(!Self.sent(out).contains { if case .flushed = $0.1 { true } else { false } }, "not synced yet")
        out = holder.step(Self.peer(Self.nyc2, .copiesSynced([SyncedCopy(key: Self.key, position: position)])), now: .ms(3), wallMs: 3)
        out += holder.step(Self.peer(Self.nyc3, .copiesSynced([SyncedCopy(key: Self.key, position: position)])), now: .ms(3), wallMs: 3)
        #expect(Self.sent(out).contains { $0.1 == .flushed(4, [FlushVerdict(item: FlushItem(key: Self.key, write: known), outcome: .durable)]) })

        var bystander = Self.node(Self.nyc2)
        out = bystander.step(Self.peer(Self.london, .flush(5, [FlushItem(key: Self.key, write: known)])), now: .ms(4), wallMs: 4)
        guard case .flushed(5, let verdicts)? = Self.sent(out).first?.1, case .redirect(let record)? = verdicts.first?.outcome else {
            Issue.record("expected a redirect, got \(out)")
            return
        }
        #expect(record?.holder == Self.nyc1)
    }

    /// A holder that restarted knows the ids of the writes in its copy (stored with them) and
    /// answers a retried write with its position instead of applying it again (swarm seed 242).
    @Test func aRestartedHolderRecognisesARetriedWrite() {
        var holder = Self.node(Self.nyc1)
        let id = RequestID(origin: Self.london, seq: 57)
        let v3 = Self.position(2, 3)
        holder.restore(
            promises: [Self.key: Epoch(2)], positions: [Self.key: v3], restarted: false,
            recent: [Self.key: [WriteRef(id: id, position: v3)]])
        // Pretend it serves at epoch 2 again (a restarted node would renew first; the dedup is
        // the same either way).
        holder.blocks[Self.key]!.holding = HolderTerm(epoch: Epoch(2), quorumRegions: [RegionID("nyc")], start: v3)
        let retry = PeerEnvelope(
            from: Self.london, hlc: .zero,
            message: .forward(ForwardedOp(id: RequestID(origin: Self.london, seq: 99), key: Self.key,
                op: .write(BlockWrite(offset: 0, length: 4096, data: .bytes([9]), id: id)))))
        let out = holder.step(.peer(retry), now: .ms(0), wallMs: 0)
        #expect(!out.contains { if case .persistWrite = $0 { true } else { false } }, "not applied again")
        #expect(Self.sent(out).first?.1 == .forwardReply(RequestID(origin: Self.london, seq: 99), .written(v3)))
    }

    /// A write whose id a restarted holder does not have, but which its origin sent to the
    /// holder's earlier run: that run may have stored it and been killed before logging its id
    /// (the bytes survive in the page cache), so storing it again could put it over newer
    /// writes. The holder answers that its outcome is unknown; a write first sent to this run,
    /// or one whose id it has, is served as always. (A real cluster read an old write back
    /// over newer acknowledged ones across kill -9, one history in fourteen.)
    @Test func aRestartedHolderDoesNotStoreAWriteItsEarlierRunMayHave() {
        var holder = Self.node(Self.nyc1)
        let known = RequestID(origin: Self.london, seq: 57)
        let v3 = Self.position(2, 3)
        holder.restore(
            promises: [Self.key: Epoch(2)], positions: [Self.key: v3], restarted: false, incarnation: 1,
            recent: [Self.key: [WriteRef(id: known, position: v3)]])
        holder.blocks[Self.key]!.holding = HolderTerm(epoch: Epoch(2), quorumRegions: [RegionID("nyc")], start: v3)
        func forward(_ seq: UInt64, _ id: RequestID, sentEarlier: UInt64?) -> [NodeEffect] {
            let envelope = PeerEnvelope(
                from: Self.london, hlc: .zero,
                message: .forward(ForwardedOp(id: RequestID(origin: Self.london, seq: seq), key: Self.key,
                    op: .write(BlockWrite(offset: 0, length: 4096, data: .bytes([9]), id: id)), sentEarlier: sentEarlier)))
            return holder.step(.peer(envelope), now: .ms(0), wallMs: 0)
        }
        func stored(_ out: [NodeEffect]) -> Bool { out.contains { if case .persistWrite = $0 { true } else { false } } }

        var out = forward(100, RequestID(origin: Self.london, seq: 58), sentEarlier: 0)
        #expect(!stored(out))
        #expect(Self.sent(out).first?.1 == .forwardReply(RequestID(origin: Self.london, seq: 100), .failed(.unavailable)))
        out = forward(101, known, sentEarlier: 0)
        #expect(!stored(out))
        #expect(Self.sent(out).first?.1 == .forwardReply(RequestID(origin: Self.london, seq: 101), .written(v3)), "its id is known")
        out = forward(102, RequestID(origin: Self.london, seq: 59), sentEarlier: 1)
        #expect(stored(out), "sent to this run before: not stored yet, or its id would be known")
        out = forward(103, RequestID(origin: Self.london, seq: 60), sentEarlier: nil)
        #expect(stored(out), "never sent here before")
    }

    /// The origin names the run of the holder that an earlier attempt went to, as it learnt it
    /// from the holder's messages.
    @Test func aRetriedForwardNamesTheRunItWasFirstSentTo() {
        var origin = Self.node(Self.london)
        let pong = PeerEnvelope(from: Self.nyc1, incarnation: 4, hlc: .zero, message: .pong(1, rtts: [], hiveMs: nil))
        _ = origin.step(.peer(pong), now: .ms(0), wallMs: 0)
        let out = origin.step(.client(1, Self.key, Self.write(1)), now: .ms(1), wallMs: 1)
        guard case .forward(let first)? = Self.sent(out).first?.1,
            let timer = Self.timers(out).first(where: { if case .forwardTimeout = $0 { true } else { false } })
        else {
            Issue.record("expected a forward and its timer, got \(out)")
            return
        }
        #expect(first.sentEarlier == nil)
        let retry = origin.step(.timer(timer), now: .ms(5000), wallMs: 5000)
        let again = Self.sent(retry).compactMap { if case .forward(let op) = $0.1 { op } else { nil } }
        #expect(again.map(\.sentEarlier) == [4])
    }

    /// A copy holding the holder's pending entries (its own epoch) is never taken back to the
    /// last committed position, which may lie in the previous epoch (swarm seed 5490).
    @Test func aRepairNeverTakesBackACopyWithTheHoldersPendingWrites() {
        var copy = Self.node(Self.nyc2)
        copy.restore(promises: [Self.key: Epoch(2)], positions: [Self.key: Self.position(2, 43)], restarted: false)
        let late = PeerMessage.install(
            Self.key, epoch: Epoch(2), transfer: .bytes([]), after: Self.position(2, 43), upTo: Self.position(1, 33), recent: [])
        let out = copy.step(Self.peer(Self.nyc1, late), now: .ms(0), wallMs: 0)
        #expect(copy.position(Self.key) == Self.position(2, 43))
        #expect(out.contains(.installTransfer(Self.key, nil, upTo: Self.position(2, 43))))
        // And the holder's repair rounds leave such a copy alone.
        let term = HolderTerm(epoch: Epoch(2), quorumRegions: [RegionID("nyc")], start: Self.position(1, 33))
        #expect(term.caughtUp(Self.position(2, 43), Self.position(1, 33)))
        #expect(!term.caughtUp(Self.position(1, 40), Self.position(1, 33)), "an old epoch's extra entries are not")
    }

    /// A read whose check completes while a write is pending saw that write in the holder's
    /// storage: it is answered only once the write is on Q2, with the bytes it saw; if the
    /// holder loses the block first, the read goes elsewhere and the bytes are dropped (seeds
    /// 676 and 990 read a write that a steal then dropped, and saw it applied again later).
    @Test func aReadThatSawAPendingWriteWaitsForItsCommit() {
        var holder = Self.node(Self.nyc1)
        _ = holder.step(.client(1, Self.key, Self.write(1)), now: .ms(0), wallMs: 0)
        _ = holder.step(Self.peer(Self.nyc2, .accepted(Self.key, position: Self.position(0, 1), ok: true, promised: .zero)), now: .ms(1), wallMs: 1)
        _ = holder.step(.client(2, Self.key, Self.write(2)), now: .ms(2), wallMs: 2)
        /// Client `client` reads at `t`, nyc-2 confirms the epoch: the read's bytes are held.
        func readUntilHeld(_ client: ClientRequestID, at t: Double) -> UInt64? {
            let read = holder.step(.client(client, Self.key, .read(offset: 0, length: 4096)), now: .ms(t), wallMs: Int64(t))
            guard case .readCheck(_, _, let nonce)? = Self.sent(read).first(where: { $0.0 == Self.nyc2 })?.1 else {
                Issue.record("expected a read check, got \(Self.sent(read))")
                return nil
            }
            let checked = holder.step(
                Self.peer(Self.nyc2, .readChecked(Self.key, epoch: .zero, nonce: nonce, ok: true)), now: .ms(t + 1), wallMs: Int64(t + 1))
            #expect(!checked.contains { if case .reply(client, _) = $0 { true } else { false } }, "a write is not on Q2 yet")
            guard case .holdRead(let handle, Self.key, 0, 4096)? = checked.first(where: { if case .holdRead = $0 { true } else { false } }) else {
                Issue.record("expected the read's bytes to be held, got \(checked)")
                return nil
            }
            return handle
        }
        guard let handle = readUntilHeld(3, at: 3) else { return }
        let committed = holder.step(Self.peer(Self.nyc2, .accepted(Self.key, position: Self.position(0, 2), ok: true, promised: .zero)), now: .ms(5), wallMs: 5)
        let replies = committed.compactMap { if case .reply(let c, let r) = $0 { (c, r) } else { nil } }
        #expect(replies.map(\.0) == [2, 3])
        #expect(replies.last?.1 == .read(.held(handle)))

        // The same again, but a newer epoch ends the term before write 3 commits.
        _ = holder.step(.client(4, Self.key, Self.write(3)), now: .ms(6), wallMs: 6)
        guard let handle2 = readUntilHeld(5, at: 7) else { return }
        let fenced = holder.step(Self.peer(Self.nyc3, .accepted(Self.key, position: Self.position(0, 3), ok: false, promised: Epoch(1))), now: .ms(9), wallMs: 9)
        #expect(fenced.contains(.dropHeldRead(handle2)))
        #expect(!fenced.contains { if case .reply(5, .read) = $0 { true } else { false } }, "the read is served by the next holder")
    }
}

/// A node measures its round trip to every other region (`ping`/`pong` every 10 s) and the
/// holder's policy uses what it measured, not the topology's table.
@Suite struct MeasuredRttTests {
    @Test func pongsAreSmoothedAndUsed() {
        var nyc = RetryRepairTests.node(RetryRepairTests.nyc1)
        let started = nyc.start(now: .ms(0), wallMs: 0)
        let pings = RetryRepairTests.sent(started).filter { if case .ping = $0.1 { true } else { false } }
        #expect(pings.map(\.0) == [RetryRepairTests.london], "one probe per other region, to its home node")
        #expect(RetryRepairTests.timers(started).contains(.rttProbe))
        guard case .ping(let nonce)? = pings.first?.1 else { return }
        var london = RetryRepairTests.node(RetryRepairTests.london)
        let answer = london.step(RetryRepairTests.peer(RetryRepairTests.nyc1, .ping(nonce)), now: .ms(35), wallMs: 35)
        #expect(RetryRepairTests.sent(answer).map(\.1) == [.pong(nonce, rtts: [])])
        #expect(nyc.knownRtts.rttMs(RegionID("nyc"), RegionID("london")) == 70, "the table until measured")
        // London's answer reports its own links: nyc learns London–Frankfurt from it; what
        // no round trip can be (and London's view of nyc's own link) is ignored.
        let (frankfurt, tokyo) = (RegionID("frankfurt"), RegionID("tokyo"))
        let report = [RegionRtt(frankfurt, ms: 20), RegionRtt(tokyo, ms: .infinity), RegionRtt(RegionID("nyc"), ms: 1)]
        _ = nyc.step(RetryRepairTests.peer(RetryRepairTests.london, .pong(nonce, rtts: report)), now: .ms(300), wallMs: 300)
        #expect(nyc.measuredRttMs[RegionID("london")] == 300)
        #expect(nyc.knownRtts.rttMs(RegionID("london"), RegionID("nyc")) == 300)
        #expect(nyc.knownRtts.rttMs(frankfurt, RegionID("london")) == 20)
        #expect(nyc.knownRtts.rttMs(RegionID("london"), tokyo) == 70)
        // The next sample moves the value a quarter of the way; a late answer to an older
        // round is ignored.
        let again = nyc.step(.timer(.rttProbe), now: .ms(10_000), wallMs: 10_000)
        guard case .ping(let second)? = RetryRepairTests.sent(again).first?.1 else { return }
        _ = nyc.step(RetryRepairTests.peer(RetryRepairTests.london, .pong(nonce, rtts: [])), now: .ms(10_050), wallMs: 10_050)
        _ = nyc.step(RetryRepairTests.peer(RetryRepairTests.london, .pong(second, rtts: [])), now: .ms(10_100), wallMs: 10_100)
        #expect(nyc.measuredRttMs[RegionID("london")] == 300 + 0.25 * (100 - 300))
    }
}

extension MeasuredRttTests {
    /// Both ends of a link between two other regions reported it: their mean.
    @Test func bothEndsReportsAreAveraged() {
        let (nyc, london, frankfurt) = (RegionID("nyc"), RegionID("london"), RegionID("frankfurt"))
        let known = KnownRtts(
            region: nyc, measured: [london: 80], reported: [london: [frankfurt: 20], frankfurt: [london: 30]],
            table: { _, _ in 70 })
        #expect(known.rttMs(london, frankfurt) == 25)
        #expect(known.rttMs(nyc, london) == 80)
        #expect(known.rttMs(nyc, frankfurt) == 70)
        #expect(known.rttMs(london, london) == 70, "within a region: the table")
    }
}

/// A node times its Hive calls (issue to answer), reports the smoothed value in its `pong`s,
/// and a holder prices a move to a region with that region's Hive round trip.
@Suite struct MeasuredHiveRttTests {
    @Test func hiveCallsAreTimedReportedAndPriced() {
        var london = RetryRepairTests.node(RetryRepairTests.london)
        _ = london.start(now: .ms(0), wallMs: 0)
        #expect(london.links.hiveMs == nil)
        // A lookup answered after 140 ms; a refusal for an outage is not a round trip.
        london.links.hiveCallSent(7, at: .ms(1_000))
        london.links.hiveAnswered(7, at: .ms(1_140), measured: true)
        london.links.hiveCallSent(8, at: .ms(2_000))
        london.links.hiveAnswered(8, at: .ms(9_000), measured: false)
        #expect(london.links.hiveMs == 140)
        london.links.hiveCallSent(9, at: .ms(3_000))
        london.links.hiveAnswered(9, at: .ms(3_100), measured: true)
        #expect(london.links.hiveMs == 140 + 0.25 * (100 - 140))
        // Its pong carries the value; the asking node keeps it per region.
        let answer = london.step(RetryRepairTests.peer(RetryRepairTests.nyc1, .ping(42)), now: .ms(4_000), wallMs: 4_000)
        #expect(RetryRepairTests.sent(answer).map(\.1) == [.pong(42, rtts: [], hiveMs: 130)])
        var nyc = RetryRepairTests.node(RetryRepairTests.nyc1)
        let started = nyc.start(now: .ms(0), wallMs: 0)
        guard case .ping(let nonce)? = RetryRepairTests.sent(started).first?.1 else { return }
        _ = nyc.step(RetryRepairTests.peer(RetryRepairTests.london, .pong(nonce, rtts: [], hiveMs: 130)), now: .ms(70), wallMs: 70)
        #expect(nyc.knownRtts.hiveRttMs(RegionID("london")) == 130)
        #expect(nyc.knownRtts.hiveRttMs(RegionID("nyc")) == nil, "nothing measured and no Hive region known")
    }

    @Test func moveCostUsesTheTargetsHiveRoundTrip() {
        let (nyc, london) = (RegionID("nyc"), RegionID("london"))
        let rtt: (RegionID, RegionID) -> Double = { a, b in a == b ? 0.5 : 70 }
        let near = MoveCosts(localMs: 0.05, blockBytes: 0, hiveRttMs: [london: 70])
        let far = MoveCosts(localMs: 0.05, blockBytes: 0, hiveRttMs: [london: 250])
        let unknown = MoveCosts(localMs: 0.05, blockBytes: 0)
        #expect(AdaptivePolicy.moveMs(to: london, from: nyc, rttMs: rtt, costs: near, AdaptivePolicy.Settings()) == 210)
        #expect(AdaptivePolicy.moveMs(to: london, from: nyc, rttMs: rtt, costs: far, AdaptivePolicy.Settings()) == 570, "two Hive round trips and the fence")
        #expect(AdaptivePolicy.moveMs(to: london, from: nyc, rttMs: rtt, costs: unknown, AdaptivePolicy.Settings()) == 210, "Hive beside the holder")
        // Known Hive region, nothing measured: the table's round trip to it.
        let known = KnownRtts(region: nyc, measured: [:], reported: [:], table: { a, b in a == b ? 0.5 : 90 }, hive: [:], hiveRegion: nyc)
        #expect(known.hiveRttMs(london) == 90)
        #expect(known.hiveRttMs(nyc) == 0.5)
    }
}
