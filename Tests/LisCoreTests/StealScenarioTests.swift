@testable import LisCore
import Testing

/// The steal of DESIGN §3, one message at a time, between a New York holder and a Sydney
/// writer, with a Hive kept by the test. Reads like the protocol's story.
@Suite struct StealScenarioTests {
    static let nyc = NodeID("nyc-1")
    static let sydney = NodeID("sydney-1")
    static let volume = VolumeSpec(
        name: VolumeName("vm"), sizeBytes: 64 << 20, blockSizeBytes: 1 << 20, home: RegionID("nyc"))
    static let key = BlockKey(VolumeName("vm"), BlockID(7))

    /// Writes of `origin`'s clients, as (request seq, version at epoch 0).
    static func refs(_ origin: NodeID, _ writes: [(UInt64, Version)]) -> [WriteRef] {
        writes.map { WriteRef(id: RequestID(origin: origin, seq: $0.0), position: LogPosition(epoch: .zero, version: $0.1)) }
    }

    static func cluster() -> (NodeCore, NodeCore) {
        let map = ClusterMap(
            nodes: [(nyc, RegionID("nyc")), (sydney, RegionID("sydney"))], volumes: [volume]
        ) { a, b in a == b ? 0.5 : 230 }
        return (
            NodeCore(id: nyc, map: map, migration: MigrationConfig(), policy: PolicyConfig()),
            NodeCore(id: sydney, map: map, migration: MigrationConfig(), policy: PolicyConfig())
        )
    }

    static func write(_ tag: UInt8) -> BlockOp {
        .write(BlockWrite(offset: 4096 * UInt32(tag), length: 4096, data: .bytes([tag])))
    }

    /// The messages in a list of effects, in order.
    static func sent(_ effects: [NodeEffect]) -> [(NodeID, PeerEnvelope)] {
        effects.compactMap { if case .send(let to, let e) = $0 { (to, e) } else { nil } }
    }

    static func hiveCalls(_ effects: [NodeEffect]) -> [(HiveCallID, HiveRequest)] {
        effects.compactMap { if case .hive(let id, let r) = $0 { (id, r) } else { nil } }
    }

    static func events(_ effects: [NodeEffect]) -> [NodeEvent] {
        effects.compactMap { if case .event(let e) = $0 { e } else { nil } }
    }

    @Test func sydneyStealsABlockAfterThreeSlowWrites() throws {
        var (nyc, sydney) = Self.cluster()
        var t = Instant.ms(0)
        _ = nyc.start(now: t, wallMs: 0)
        _ = sydney.start(now: t, wallMs: 0)

        // 1. Three writes from Sydney are forwarded to New York, which holds the never-moved
        //    block at epoch 0 and answers each after a Pacific crossing.
        for tag in UInt8(1)...3 {
            let out = sydney.step(.client(UInt64(tag), Self.key, Self.write(tag)), now: t, wallMs: t.us / 1000)
            let forwards = Self.sent(out)
            #expect(forwards.count == 1 && forwards[0].0 == Self.nyc)
            t = t + .ms(115)
            let atNYC = nyc.step(.peer(forwards[0].1), now: t, wallMs: t.us / 1000)
            if tag == 1 { #expect(Self.events(atNYC).contains(.holding(Self.key, .zero))) }
            #expect(atNYC.contains { if case .persistWrite(Self.key, LogPosition(epoch: .zero, version: UInt64(tag)), _, _) = $0 { true } else { false } })
            let replies = Self.sent(atNYC)
            // The reply, and the async copy for Sydney's region.
            #expect(replies.count == 2)
            t = t + .ms(115)
            var atSydney: [NodeEffect] = []
            for (_, envelope) in replies { atSydney += sydney.step(.peer(envelope), now: t, wallMs: t.us / 1000) }
            #expect(atSydney.contains(.reply(UInt64(tag), .written(LogPosition(epoch: .zero, version: UInt64(tag))))))
            // 2. The third slow write tips the ≥10× tier: Sydney claims the block in Hive.
            let claims = Self.hiveCalls(atSydney)
            #expect(claims.count == (tag == 3 ? 1 : 0))
            if tag == 3 {
                guard case .compareAndSet(_, let expected, let claim) = claims[0].1 else {
                    Issue.record("expected a CAS")
                    return
                }
                #expect(expected == nil, "a never-moved block has no record yet")
                #expect(claim.epoch == Epoch(1) && claim.holder == Self.sydney && claim.state == .stealing)
                #expect(claim.lastActive.holder == Self.nyc && claim.lastActive.epoch == .zero)
                #expect(Self.events(atSydney).contains { if case .stealStarted = $0 { true } else { false } })

                // 3. Hive accepts; Sydney promises epoch 1 itself and fences New York.
                t = t + .ms(230)
                let fenceOut = sydney.step(.hive(claims[0].0, .swapped(Self.key, ok: true, current: claim)), now: t, wallMs: t.us / 1000)
                #expect(fenceOut.first == .persistPromise(Self.key, Epoch(1)), "promise durably before fencing")
                let fences = Self.sent(fenceOut)
                #expect(fences.count == 1 && fences[0].0 == Self.nyc)
                guard case .fence(_, let epoch, let have) = fences[0].1.message else {
                    Issue.record("expected a fence")
                    return
                }
                #expect(epoch == Epoch(1))
                // The async copies of writes 1 and 2 arrived; the copy of write 3 is behind its
                // reply, and a node that is stealing ignores async copies.
                #expect(have == LogPosition(epoch: .zero, version: 2))

                // 4. New York promises, stops serving, and sends what Sydney lacks.
                t = t + .ms(115)
                let fencedOut = nyc.step(.peer(fences[0].1), now: t, wallMs: t.us / 1000)
                #expect(fencedOut.first == .persistPromise(Self.key, Epoch(1)))
                #expect(Self.events(fencedOut).contains(.fenced(Self.key, Epoch(1))))
                #expect(nyc.servingEpoch(Self.key) == nil)

                let v2 = LogPosition(epoch: .zero, version: 2)
                let v3 = LogPosition(epoch: .zero, version: 3)
                guard case .fenced(_, _, v3, .transfer(Self.key, v2, v3), nil, _) = Self.sent(fencedOut)[0].1.message else {
                    Issue.record("expected New York's promise with the transfer of write 3")
                    return
                }

                // 5. With New York's promise and write 3 (the shell fills the transfer from its
                //    storage), Sydney makes its copy durable and asks Hive to activate.
                t = t + .ms(115)
                let installOut = sydney.step(.peer(Self.sent(fencedOut)[0].1), now: t, wallMs: t.us / 1000)
                // The install stores the ids of the writes it carries (Sydney's clients' three).
                #expect(
                    installOut.first
                        == .installTransfer(
                            Self.key, .transfer(Self.key, after: v2, upTo: v3), upTo: v3,
                            recent: Self.refs(Self.sydney, [(1, 1), (3, 2), (5, 3)])))
                let activate = Self.hiveCalls(installOut)
                guard activate.count == 1, case .compareAndSet(_, _, let active) = activate[0].1 else {
                    Issue.record("expected the activation CAS")
                    return
                }
                #expect(active.state == .active && active.epoch == Epoch(1))

                // 6. Hive activates: Sydney serves the block at epoch 1. The steal took two Hive
                //    round trips and one fence round trip: 3 × 230 ms.
                t = t + .ms(230)
                let done = sydney.step(.hive(activate[0].0, .swapped(Self.key, ok: true, current: active)), now: t, wallMs: t.us / 1000)
                #expect(Self.events(done).contains(.holding(Self.key, Epoch(1))))
                #expect(Self.events(done).contains { if case .moved(Self.key, Epoch(1), Self.nyc, let ms, _) = $0 { ms == 690 } else { false } })
                #expect(sydney.servingEpoch(Self.key) == Epoch(1))

                // 7. Sydney's next write is local: persisted at epoch 1, acknowledged at once.
                let local = sydney.step(.client(99, Self.key, Self.write(9)), now: t, wallMs: t.us / 1000)
                #expect(local.contains(.reply(99, .written(LogPosition(epoch: Epoch(1), version: 4)))))
            }
        }
    }

    /// The holder hands the block over by claiming it for Sydney (PROTOCOL.md "The hand-over"):
    /// it serves on while its CAS is at Hive, then promises, sends its whole log and stops;
    /// Sydney installs it without fencing anyone and activates with one Hive call.
    @Test func theHolderClaimsTheBlockForSydneyAndSendsItsLog() {
        var (nyc, sydney) = Self.cluster()
        let t = Instant.ms(0)
        _ = nyc.step(.client(1, Self.key, Self.write(1)), now: t, wallMs: 0)
        _ = nyc.step(.client(2, Self.key, Self.write(2)), now: t, wallMs: 0)
        let v2 = LogPosition(epoch: .zero, version: 2)

        // 1. Neither Hive round trip is known: the holder claims (a tie goes to the holder).
        nyc.effects.removeAll()
        let handed = nyc.handOver(Self.key, to: Self.sydney, reason: .requested("test"))
        #expect(handed)
        let calls = Self.hiveCalls(nyc.effects)
        guard calls.count == 1, case .compareAndSet(_, nil, let claim) = calls[0].1 else {
            Issue.record("expected the holder's CAS of a never-moved block")
            return
        }
        #expect(claim.holder == Self.sydney && claim.state == .stealing && claim.epoch == Epoch(1))
        #expect(claim.lastActive.holder == Self.nyc && claim.stealerPosition == .empty)
        #expect(Self.sent(nyc.effects).isEmpty)
        #expect(nyc.servingEpoch(Self.key) == .zero, "the holder serves while its claim is at Hive")

        // 2. Hive takes it: promise first, then the log, then the end of the term.
        let claimed = nyc.step(.hive(calls[0].0, .swapped(Self.key, ok: true, current: claim)), now: t, wallMs: 0)
        #expect(claimed.first == .persistPromise(Self.key, Epoch(1)))
        let sent = Self.sent(claimed)
        guard sent.count == 1, sent[0].0 == Self.sydney,
            case .handOver(_, .claimed(claim, v2, .transfer(Self.key, .empty, v2), let recent), _, _) = sent[0].1.message
        else {
            Issue.record("expected the hand-over with the whole log, got \(sent)")
            return
        }
        #expect(recent.count == 2)
        #expect(Self.events(claimed).contains(.fenced(Self.key, Epoch(1))))
        #expect(nyc.servingEpoch(Self.key) == nil)

        // 3. Sydney promises, installs the log and activates: no fence crosses the Pacific.
        let atSydney = sydney.step(.peer(sent[0].1), now: t, wallMs: 0)
        #expect(atSydney.first == .persistPromise(Self.key, Epoch(1)))
        #expect(
            atSydney.contains(
                .installTransfer(
                    Self.key, .transfer(Self.key, after: .empty, upTo: v2), upTo: v2, recent: Self.refs(Self.nyc, [(1, 1), (2, 2)]))))
        #expect(Self.sent(atSydney).isEmpty)
        let activate = Self.hiveCalls(atSydney)
        guard activate.count == 1, case .compareAndSet(_, claim, let active) = activate[0].1 else {
            Issue.record("expected the activation CAS")
            return
        }
        let done = sydney.step(.hive(activate[0].0, .swapped(Self.key, ok: true, current: active)), now: t, wallMs: 0)
        #expect(Self.events(done).contains(.holding(Self.key, Epoch(1))))
        #expect(sydney.servingEpoch(Self.key) == Epoch(1))
    }

    /// The hand-over message is lost: Sydney learns the claim from Hive's watch, adopts it,
    /// and fences New York itself at the next resend.
    @Test func aClaimMadeForSydneyIsAdoptedFromTheWatch() {
        var (nyc, sydney) = Self.cluster()
        let t = Instant.ms(0)
        _ = nyc.step(.client(1, Self.key, Self.write(1)), now: t, wallMs: 0)
        nyc.effects.removeAll()
        let handed = nyc.handOver(Self.key, to: Self.sydney, reason: .requested("test"))
        #expect(handed)
        guard case .compareAndSet(_, _, let claim)? = Self.hiveCalls(nyc.effects).first?.1 else {
            Issue.record("expected the holder's CAS")
            return
        }
        let watched = sydney.step(.hiveWatch(Self.key, claim), now: t, wallMs: 0)
        #expect(watched.first == .persistPromise(Self.key, Epoch(1)))
        #expect(Self.events(watched).contains { if case .stealStarted(Self.key, _, .adoptingClaim) = $0 { true } else { false } })
        #expect(Self.sent(watched).isEmpty, "the holder's log is likely on its way")
        let resend = sydney.step(.timer(.stealResend(Self.key, Epoch(1))), now: t + .ms(2000), wallMs: 2000)
        #expect(Self.sent(resend).contains { if case .fence(Self.key, Epoch(1), _) = $0.1.message { $0.0 == Self.nyc } else { false } })
    }

    /// Hive sits in New York, next to the holder. New York learns of Sydney's claim from Hive's
    /// watch and promises at once, so its answer crosses the Pacific while Hive's reply does:
    /// the steal costs two Hive round trips, not three.
    @Test func theWatchFencesTheOldHolderBeforeTheStealersFenceArrives() {
        var (nyc, sydney) = Self.cluster()
        var t = Instant.ms(0)
        // New York holds the block with two writes; Sydney's async copy has the first.
        _ = nyc.step(.client(1, Self.key, Self.write(1)), now: t, wallMs: 0)
        _ = nyc.step(.client(2, Self.key, Self.write(2)), now: t, wallMs: 0)
        let v1 = LogPosition(epoch: .zero, version: 1)
        let v2 = LogPosition(epoch: .zero, version: 2)
        let copy = PeerEnvelope(from: Self.nyc, hlc: .zero, message: .replicate(Self.key, position: v1, previous: .empty, write: BlockWrite(offset: 4096, length: 4096, data: .bytes([1]))))
        _ = sydney.step(.peer(copy), now: t, wallMs: 0)
        #expect(sydney.position(Self.key) == v1)

        // Sydney claims (the test stands in for the policy).
        let claimOut = sydney.requestSteal(Self.key, note: "test", now: t, wallMs: 0)
        guard case .compareAndSet(_, nil, let claim)? = Self.hiveCalls(claimOut).first?.1 else {
            Issue.record("expected the claim")
            return
        }
        #expect(claim.stealerPosition == v1)

        // Hive commits the claim; its watch reaches New York first.
        t = t + .ms(116)
        let watched = nyc.step(.hiveWatch(Self.key, claim), now: t, wallMs: t.us / 1000)
        #expect(watched.first == .persistPromise(Self.key, Epoch(1)))
        let answer = Self.sent(watched)
        #expect(answer.count == 1 && answer[0].0 == Self.sydney)
        // With the ids of the writes in its copy, so the new holder will not apply them twice.
        let recent = [
            WriteRef(id: RequestID(origin: Self.nyc, seq: 1), position: v1),
            WriteRef(id: RequestID(origin: Self.nyc, seq: 2), position: v2),
        ]
        #expect(
            answer[0].1.message
                == .fenced(Self.key, epoch: Epoch(1), position: v2, transfer: .transfer(Self.key, after: v1, upTo: v2), refusedFor: nil, recent: recent))

        // The promise and Hive's reply reach Sydney together; the promise may come first.
        t = t + .ms(114)
        let early = sydney.step(.peer(answer[0].1), now: t, wallMs: t.us / 1000)
        #expect(early.isEmpty, "kept until Hive confirms the claim")
        let confirmed = sydney.step(.hive(Self.hiveCalls(claimOut)[0].0, .swapped(Self.key, ok: true, current: claim)), now: t, wallMs: t.us / 1000)
        #expect(Self.sent(confirmed).isEmpty, "no fence needed: New York already promised")
        #expect(
            confirmed.contains(
                .installTransfer(
                    Self.key, .transfer(Self.key, after: v1, upTo: v2), upTo: v2, recent: Self.refs(Self.nyc, [(1, 1), (2, 2)]))))
        #expect(Self.hiveCalls(confirmed).count == 1, "straight on to activation")
    }

    /// A write that arrives again (its origin retried it after a redirect, and a steal had
    /// already adopted it) is answered with where it is, not applied a second time.
    @Test func aRetriedWriteIsAppliedOnce() {
        var (nyc, _) = Self.cluster()
        let id = RequestID(origin: Self.sydney, seq: 41)
        let write = BlockWrite(offset: 0, length: 4096, data: .bytes([7]), id: id)
        func forward(_ seq: UInt64) -> NodeInput {
            .peer(PeerEnvelope(from: Self.sydney, hlc: .zero, message: .forward(ForwardedOp(id: RequestID(origin: Self.sydney, seq: seq), key: Self.key, op: .write(write)))))
        }
        let first = nyc.step(forward(1), now: .ms(1), wallMs: 1)
        #expect(first.contains { if case .persistWrite = $0 { true } else { false } })
        _ = nyc.step(.client(5, Self.key, Self.write(2)), now: .ms(2), wallMs: 2)
        let again = nyc.step(forward(2), now: .ms(3), wallMs: 3)
        #expect(!again.contains { if case .persistWrite = $0 { true } else { false } }, "not stored again")
        #expect(Self.sent(again).map(\.1.message) == [.forwardReply(RequestID(origin: Self.sydney, seq: 2), .written(LogPosition(epoch: .zero, version: 1)))])
        #expect(nyc.position(Self.key) == LogPosition(epoch: .zero, version: 2))
    }

    /// A holder that restarts may have lost acknowledged writes it had not synced, and another
    /// copy may hold them at the positions it would reuse. It takes a new epoch first.
    @Test func aRestartedHolderTakesANewEpochBeforeServing() {
        var (nyc, _) = Self.cluster()
        nyc.restore(promises: [:], positions: [Self.key: LogPosition(epoch: .zero, version: 1)], restarted: true)
        let asked = nyc.step(.client(1, Self.key, Self.write(2)), now: .ms(1), wallMs: 1)
        #expect(!asked.contains { if case .persistWrite = $0 { true } else { false } }, "not served at the old epoch")
        // Its memory of where blocks live is gone: it asks Hive first (the block never moved).
        guard let lookup = Self.hiveCalls(asked).first, case .get = lookup.1 else {
            Issue.record("expected a Hive lookup first")
            return
        }
        let out = nyc.step(.hive(lookup.0, .record(Self.key, nil)), now: .ms(1), wallMs: 1)
        guard case .compareAndSet(_, nil, let claim)? = Self.hiveCalls(out).first?.1 else {
            Issue.record("expected a claim of epoch 1")
            return
        }
        #expect(claim.holder == Self.nyc && claim.epoch == Epoch(1))
        // Its own region's Q2 is itself: the claim confirmed, it installs its copy and activates.
        let fenced = nyc.step(.hive(Self.hiveCalls(out)[0].0, .swapped(Self.key, ok: true, current: claim)), now: .ms(2), wallMs: 2)
        guard case .compareAndSet(_, _, let active)? = Self.hiveCalls(fenced).first?.1 else {
            Issue.record("expected the activation")
            return
        }
        let served = nyc.step(.hive(Self.hiveCalls(fenced)[0].0, .swapped(Self.key, ok: true, current: active)), now: .ms(3), wallMs: 3)
        #expect(served.contains(.reply(1, .written(LogPosition(epoch: Epoch(1), version: 2)))), "the write, at a new epoch")
    }

    /// A restarted holder that no client asks for a block, only a flush of writes it had
    /// acknowledged before the crash, takes the block up (lookup, new epoch) and answers: a
    /// redirect naming itself would send the origin back to it forever (seen on a real cluster:
    /// every NBD client that closed hung in its flush).
    @Test func aRestartedHolderAskedOnlyForAFlushTakesTheBlockUpAndAnswers() {
        var (nyc, _) = Self.cluster()
        let synced = LogPosition(epoch: .zero, version: 1)
        nyc.restore(promises: [:], positions: [Self.key: synced], restarted: true)
        let kept = FlushItem(key: Self.key, write: WriteRef(id: RequestID(origin: Self.sydney, seq: 1), position: synced))
        let gone = FlushItem(
            key: Self.key, write: WriteRef(id: RequestID(origin: Self.sydney, seq: 2), position: LogPosition(epoch: .zero, version: 2)))
        let asked = nyc.step(Self.peer(Self.sydney, .flush(5, [kept, gone])), now: .ms(1), wallMs: 1)
        #expect(!Self.sent(asked).contains { if case .flushed = $0.1.message { true } else { false } }, "no redirect to itself")
        guard let lookup = Self.hiveCalls(asked).first, case .get = lookup.1 else {
            Issue.record("expected a Hive lookup, got \(asked)")
            return
        }
        let out = nyc.step(.hive(lookup.0, .record(Self.key, nil)), now: .ms(2), wallMs: 2)
        guard case .compareAndSet(_, nil, let claim)? = Self.hiveCalls(out).first?.1 else {
            Issue.record("expected a claim of epoch 1, got \(out)")
            return
        }
        let fenced = nyc.step(.hive(Self.hiveCalls(out)[0].0, .swapped(Self.key, ok: true, current: claim)), now: .ms(3), wallMs: 3)
        guard case .compareAndSet(_, _, let active)? = Self.hiveCalls(fenced).first?.1 else {
            Issue.record("expected the activation")
            return
        }
        let served = nyc.step(.hive(Self.hiveCalls(fenced)[0].0, .swapped(Self.key, ok: true, current: active)), now: .ms(4), wallMs: 4)
        // The write its disk kept is durable (the install synced it); the one after it is lost.
        let answers = Self.sent(served).compactMap { if case .flushed(5, let v) = $0.1.message { v } else { nil } }.flatMap { $0 }
        #expect(Set(answers) == [FlushVerdict(item: kept, outcome: .durable), FlushVerdict(item: gone, outcome: .lost)], "\(served)")
    }

    static func peer(_ from: NodeID, _ message: PeerMessage) -> NodeInput {
        .peer(PeerEnvelope(from: from, hlc: .zero, message: message))
    }

    @Test func anAcceptAfterAHoleIsRefused() {
        var (nyc, _) = Self.cluster()
        // Sydney holds the block (epoch 3) and its accept of version 1 to New York was lost.
        let v2 = BlockWrite(offset: 0, length: 4096, data: .bytes([2]))
        let accept = PeerEnvelope(
            from: Self.sydney, hlc: .zero,
            message: .accept(Self.key, position: LogPosition(epoch: Epoch(3), version: 2), previous: LogPosition(epoch: Epoch(3), version: 1), write: v2))
        let out = nyc.step(.peer(accept), now: .ms(1), wallMs: 1)
        #expect(!out.contains { if case .persistWrite = $0 { true } else { false } }, "a copy with a hole must not look complete")
        #expect(nyc.position(Self.key) == .empty)
    }

    @Test func aFencedHolderRefusesTheStaleEpoch() {
        var (nyc, _) = Self.cluster()
        let t = Instant.ms(1)
        // New York holds the block at epoch 0 after a local write.
        _ = nyc.step(.client(1, Self.key, Self.write(1)), now: t, wallMs: 1)
        #expect(nyc.servingEpoch(Self.key) == .zero)
        // Sydney's fence for epoch 2 arrives; New York promises it.
        let fence = PeerEnvelope(from: Self.sydney, hlc: .zero, message: .fence(Self.key, epoch: Epoch(2), have: .empty))
        _ = nyc.step(.peer(fence), now: t, wallMs: 1)
        #expect(nyc.promised(Self.key) == Epoch(2))

        // A write at the old epoch is refused, naming the promise.
        let stale = PeerEnvelope(
            from: Self.sydney, hlc: .zero,
            message: .accept(
                Self.key, position: LogPosition(epoch: Epoch(1), version: 2), previous: LogPosition(epoch: .zero, version: 1),
                write: BlockWrite(offset: 0, length: 4096, data: .bytes([2]))))
        let out = nyc.step(.peer(stale), now: t, wallMs: 1)
        #expect(Self.sent(out).map(\.1.message) == [.accepted(Self.key, position: LogPosition(epoch: Epoch(1), version: 2), ok: false, promised: Epoch(2))])
        #expect(!out.contains { if case .persistWrite = $0 { true } else { false } }, "nothing stale is stored")

        // An older fence is refused too, and a forwarded write is redirected to the stealer.
        let oldFence = PeerEnvelope(from: Self.sydney, hlc: .zero, message: .fence(Self.key, epoch: Epoch(1), have: .empty))
        let refused = Self.sent(nyc.step(.peer(oldFence), now: t, wallMs: 1))
        #expect(refused.count == 1)
        if case .fenced(_, _, _, _, let refusedFor, _) = refused[0].1.message { #expect(refusedFor == Epoch(2)) } else { Issue.record("expected fenced") }
        let forward = PeerEnvelope(
            from: Self.sydney, hlc: .zero,
            message: .forward(ForwardedOp(id: RequestID(origin: Self.sydney, seq: 1), key: Self.key, op: Self.write(3))))
        let redirect = Self.sent(nyc.step(.peer(forward), now: t, wallMs: 1))
        guard case .forwardReply(_, .redirect(let record)) = redirect.first?.1.message else {
            Issue.record("expected a redirect")
            return
        }
        #expect(record?.holder == Self.sydney && record?.epoch == Epoch(2))
    }

    @Test func outOfRangeOperationsFail() {
        var (nyc, _) = Self.cluster()
        let beyond = BlockKey(VolumeName("vm"), BlockID(64))
        #expect(nyc.step(.client(1, beyond, Self.write(1)), now: .zero, wallMs: 0) == [.reply(1, .failed(.outOfRange))])
        let tooLong = BlockOp.read(offset: (1 << 20) - 4096, length: 8192)
        #expect(nyc.step(.client(2, Self.key, tooLong), now: .zero, wallMs: 0) == [.reply(2, .failed(.outOfRange))])
        let unknown = BlockKey(VolumeName("nope"), BlockID(0))
        #expect(nyc.step(.client(3, unknown, Self.write(1)), now: .zero, wallMs: 0) == [.reply(3, .failed(.outOfRange))])
    }

    @Test func anOperatorsMoveAskedOfNewYorkIsStolenBySydney() {
        var (nyc, sydney) = Self.cluster()
        let t = Instant.ms(0)
        _ = nyc.start(now: t, wallMs: 0)
        _ = sydney.start(now: t, wallMs: 0)
        let outside = BlockKey(VolumeName("vm"), BlockID(64))  // past the volume's 64 blocks
        let other = BlockKey(VolumeName("vm"), BlockID(8))

        // New York, asked to move blocks to Sydney, asks Sydney's live node to take them.
        let (taker, effects) = nyc.requestMove([Self.key, other, outside], to: RegionID("sydney"), now: t, wallMs: 0)
        #expect(taker == Self.sydney)
        let sent = Self.sent(effects)
        #expect(sent.count == 1 && sent.first?.0 == Self.sydney)
        #expect(sent.first?.1.message == .takeBlocks([Self.key, other, outside]))

        // Sydney steals each block of the volume, for the operator: a claim at Hive each.
        let atSydney = sydney.step(.peer(sent[0].1), now: t, wallMs: 0)
        let claims = Self.hiveCalls(atSydney).compactMap { call -> BlockKey? in
            if case .compareAndSet(let key, _, let claim) = call.1, claim.holder == Self.sydney { key } else { nil }
        }
        #expect(claims == [Self.key, other])
        #expect(Self.events(atSydney).contains(.stealStarted(Self.key, from: Self.nyc, reason: .operatorMove(via: Self.nyc))))

        // A move to New York's own region steals nothing its home node already holds, and a
        // region without a live member has no taker.
        #expect(Self.hiveCalls(nyc.requestMove([Self.key], to: RegionID("nyc"), now: t, wallMs: 0).effects).isEmpty)
        nyc.setLapsed([Self.sydney])
        #expect(nyc.requestMove([Self.key], to: RegionID("sydney"), now: t, wallMs: 0).taker == nil)
    }

    /// One write from Sydney, forwarded to New York and answered (230 ms later): the Hive calls
    /// it led to at Sydney.
    static func slowWrite(_ tag: UInt8, _ nyc: inout NodeCore, _ sydney: inout NodeCore, _ t: inout Instant)
        -> [(HiveCallID, HiveRequest)]
    {
        let forwards = sent(sydney.step(.client(UInt64(tag), key, write(tag)), now: t, wallMs: t.us / 1000))
        t = t + .ms(115)
        var replies: [(NodeID, PeerEnvelope)] = []
        for (_, envelope) in forwards { replies += sent(nyc.step(.peer(envelope), now: t, wallMs: t.us / 1000)) }
        t = t + .ms(115)
        var atSydney: [NodeEffect] = []
        for (_, envelope) in replies { atSydney += sydney.step(.peer(envelope), now: t, wallMs: t.us / 1000) }
        #expect(atSydney.contains(.reply(UInt64(tag), .written(LogPosition(epoch: .zero, version: UInt64(tag))))))
        return hiveCalls(atSydney)
    }

    /// While an operator paused placement, slow writes move nothing; once resumed, the next
    /// slow write moves the block as it would have.
    @Test func aPausedPolicyStealsNothingUntilResumed() {
        var (nyc, sydney) = Self.cluster()
        var t = Instant.ms(0)
        _ = nyc.start(now: t, wallMs: 0)
        _ = sydney.start(now: t, wallMs: 0)
        sydney.placementPaused = true
        for tag in UInt8(1)...5 { #expect(Self.slowWrite(tag, &nyc, &sydney, &t).isEmpty, "paused: write \(tag) moves nothing") }
        sydney.placementPaused = false
        let claims = Self.slowWrite(6, &nyc, &sydney, &t)
        #expect(claims.count == 1, "resumed: the next slow write claims the block")
        if case .compareAndSet(_, _, let claim)? = claims.first?.1 { #expect(claim.holder == Self.sydney) }
    }

    /// A drained node starts no steal, and no operator's move picks it, until undrained.
    @Test func aDrainedNodeStealsNothingAndNoMoveGoesToIt() {
        var (nyc, sydney) = Self.cluster()
        var t = Instant.ms(0)
        _ = nyc.start(now: t, wallMs: 0)
        _ = sydney.start(now: t, wallMs: 0)
        nyc.drained = [Self.sydney]
        sydney.drained = [Self.sydney]
        for tag in UInt8(1)...5 { #expect(Self.slowWrite(tag, &nyc, &sydney, &t).isEmpty, "drained: write \(tag) moves nothing") }
        #expect(nyc.requestMove([Self.key], to: RegionID("sydney"), now: t, wallMs: 0).taker == nil)
        nyc.drained = []
        let (taker, effects) = nyc.requestMove([Self.key], to: RegionID("sydney"), now: t, wallMs: 0)
        #expect(taker == Self.sydney && Self.sent(effects).map(\.0) == [Self.sydney])
    }

    @Test func messagesAboutAVolumeThisNodeDoesNotKnowAreDropped() {
        var (nyc, _) = Self.cluster()
        _ = nyc.start(now: .zero, wallMs: 0)
        // A volume created a moment ago elsewhere: its storage is not here yet, so an accept
        // must not become a write to storage (nor an acknowledgement).
        let stranger = BlockKey(VolumeName("new"), BlockID(0))
        let write = BlockWrite(offset: 0, length: 4096, data: .bytes([1]))
        for message: PeerMessage in [
            .accept(stranger, position: LogPosition(epoch: Epoch(1), version: 1), previous: .empty, write: write),
            .fence(stranger, epoch: Epoch(1), have: .empty),
            .install(stranger, epoch: Epoch(1), transfer: .bytes([1]), after: .empty, upTo: .empty),
        ] {
            let out = nyc.step(.peer(PeerEnvelope(from: Self.sydney, hlc: .zero, message: message)), now: .zero, wallMs: 0)
            #expect(out.isEmpty, "\(message) gave \(out)")
        }
    }
}
