// How the core's decision records (Decisions.swift) read for people: the simulator's reports
// and `--explain` lines, the node's log, `lis` rendering GET /v1/moves. The core itself never
// builds these lines; the numbers are the records' own.

private func fmt(_ x: Double) -> String { TiersPolicy.fmt(x) }

private func seconds(_ ms: Double) -> String { "\(Int(ms / 1000)) s" }

private func mix(_ rates: [RegionRate]) -> String {
    rates.map { "\($0.region) \(fmt($0.perSecond))/s" }.joined(separator: ", ")
}

extension MoveReason {
    /// What started the move, for metrics and the dashboard: `placement` (a policy's rule),
    /// `recovery` (a stalled claim, a restart, a lapsed holder) or `operator`.
    public var cause: String {
        switch self {
        case .movesWith(_, let inner), .handedOver(_, let inner): inner.cause
        case .renewingStalledClaim, .adoptingClaim, .renewingAfterRestart, .takingOver: "recovery"
        case .operatorMove, .requested: "operator"
        case .tiers, .crdbFtw, .wpaxosConsecutive, .wpaxosMajority, .adaptive, .coAccess, .coAccessTaken, .neverUsedNeighbours,
            .prediction:
            "placement"
        }
    }

    /// One line: which rule, and the numbers behind it.
    public var text: String {
        switch self {
        case .tiers(let d):
            return "tiers: \(d.slowWrites) writes ≥\(fmt(d.tier.minFactor))× slower than local "
                + "(≥\(fmt(d.minFactor))×: remote ≥\(fmt(d.minFactor * d.localMs)) ms vs local \(fmt(d.localMs)) ms), "
                + "tier needs \(d.tier.slowWrites)"
        case .crdbFtw(let score, let threshold, let target, let targetRequests, let holder, let holderRequests, let rttMs):
            return "crdb-ftw: score \(fmt(score)) > \(threshold) (requests \(target) \(fmt(targetRequests)) vs \(holder) \(fmt(holderRequests)), RTT \(fmt(rttMs)) ms)"
        case .wpaxosConsecutive(let run, let from):
            return "wpaxos-consecutive: \(run) consecutive operations from \(from)"
        case .wpaxosMajority(let region, let count, let total, let intervalMs):
            return "wpaxos-majority: \(region) made \(count) of \(total) accesses in \(seconds(intervalMs))"
        case .adaptive(let hereMs, let thereMs, let rates, let savingMs, let horizonMs, let costMs):
            return "adaptive: mean latency \(fmt(hereMs)) → \(fmt(thereMs)) ms at \(mix(rates)); saves \(fmt(savingMs)) ms over \(seconds(horizonMs)), move costs \(fmt(costMs)) ms"
        case .coAccess(let region, let perSecond, let volumeRates, let savingMs, let horizonMs, let costMs):
            return "adaptive (co-access): \(region) makes \(fmt(perSecond)) operations/s here on this volume's blocks that would move with it (on the volume: \(mix(volumeRates))); moving its blocks saves \(fmt(savingMs)) ms over \(seconds(horizonMs)), a move costs \(fmt(costMs)) ms"
        case .coAccessTaken(let region, let blocks):
            return "adaptive (co-access): \(region) took \(fmt(blocks)) of this volume's blocks from here lately (decayed count) and alone uses this one"
        case .neverUsedNeighbours(let region, let found, let significance):
            return "adaptive (never-used neighbours): \(region)'s \(found.touches) first uses of never-used blocks span \(found.span) blocks of a run of \(found.run) nobody else used (p = \(fmt(found.p)) ≤ \(significance)); blocks \(found.window.lowerBound)–\(found.window.upperBound) go to it"
        case .prediction(let minutes, let day):
            let when = day == 7 ? "a week" : day == 1 ? "a day" : "\(day) days"
            return "adaptive (prediction): this region started using the block at \(minutes / 60):\(minutes % 60 < 10 ? "0" : "")\(minutes % 60) UTC \(when) ago"
        case .movesWith(let key, let reason):
            return "moves with \(key): \(reason.text)"
        case .handedOver(let node, let reason):
            return "handed over by \(node): \(reason.text)"
        case .renewingStalledClaim:
            return "renewing this node's stalled claim"
        case .adoptingClaim:
            return "Hive names this node in a claim it had not acted on"
        case .renewingAfterRestart:
            return "restarted: a new epoch before serving again"
        case .takingOver(let node):
            return "taking over \(node)'s stalled claim"
        case .requested(let note):
            return note
        case .operatorMove(let node):
            return "an operator's move (lis block move, through \(node))"
        }
    }
}

extension DeclineReason {
    /// One line, for a move to `to` that did not happen.
    public func text(to: RegionID) -> String {
        switch self {
        case .reserved(let untilMs):
            return "adaptive declined \(to): the block came here on a prediction and stays until \(fmt(untilMs / 1000)) s"
        case .noCoAccess(let own):
            return "adaptive declined \(to): \(own.test) (predictive_migration is off: no co-access moves)"
        case .coAccessShort(let own, let region, let perSecond, let savingMs, let margin, let costMs, let taken, let takenNeeded, let rates):
            let coAccess = "\(region)'s \(fmt(perSecond)) operations/s on the volume's blocks that would move with it save \(fmt(savingMs)) ms < \(fmt(margin)) × \(fmt(costMs)) ms, and \(region) took \(fmt(taken)) < \(fmt(takenNeeded)) blocks lately"
            return "adaptive declined \(to): \(own.test); co-access: \(coAccess) (rates \(mix(rates)))"
        case .notAlone(let own, let region, let shared, let rates):
            let coAccess = "the block is not \(region)'s alone\(shared ? " (or has too few operations to tell: this volume's blocks are shared)" : "")"
            return "adaptive declined \(to): \(own.test); co-access: \(coAccess) (rates \(mix(rates)))"
        case .cooldown(let agoMs, let cooldownMs, let reason):
            return "held back by the cooldown (the block moved or was tried \(Int(agoMs / 1000)) s ago, < \(Int(cooldownMs / 1000)) s): \(reason.text)"
        default:
            return "adaptive declined \(to): \(test)"
        }
    }

    /// The test a candidate failed on the block's own rates.
    var test: String {
        switch self {
        case .savesTooLittle(let savingMs, let horizonMs, let margin, let costMs):
            "saves \(fmt(savingMs)) ms over \(seconds(horizonMs)) < \(fmt(margin)) × move cost \(fmt(costMs)) ms"
        case .slowerThere(let thereMs, let improvement, let hereMs):
            "mean latency there \(fmt(thereMs)) ms > \(fmt(improvement)) × \(fmt(hereMs)) ms here"
        case .firstOperation(let region, let savingMs, let horizonMs, let margin, let costMs):
            "saves \(fmt(savingMs)) ms over \(seconds(horizonMs)) ≥ \(fmt(margin)) × move cost \(fmt(costMs)) ms, but on \(region)'s first operation on this block lately (one operation measures no rate)"
        case .tooFewOperations(let count, let evidence):
            "\(fmt(count)) operations on this block < \(fmt(evidence)), and most of this volume's operations here are on blocks several regions use"
        case .slowerThereLongTerm(let thereMs, let improvement, let hereMs):
            "long-term mean latency there \(fmt(thereMs)) ms > \(fmt(improvement)) × \(fmt(hereMs)) ms here"
        case .contested(let othersPercent, let longSavingMs, let margin, let costMs):
            "contested (others made \(fmt(othersPercent)) % of its long-term use): saves \(fmt(longSavingMs)) ms at the long-term rates < \(fmt(margin)) × \(fmt(costMs)) ms"
        case .anotherSavesMore:
            "another region saves more"
        case .reserved, .noCoAccess, .coAccessShort, .notAlone, .cooldown:
            "\(self)"
        }
    }
}

extension StealEnd {
    public var text: String {
        switch self {
        case .hiveUnavailable(let message): "hive unavailable: \(message)"
        case .claimRefused(let current): "hive refused the claim; holder is \(current.map(\.description) ?? "home")"
        case .activationRefused(let current): "hive refused activation; record is \(current.map(\.description) ?? "none")"
        case .fenceRefused(let node, let promised): "refused: \(node) promised \(promised)"
        case .installRefused(let node, let promised): "install refused: \(node) promised \(promised)"
        case .superseded(let record): "superseded by \(record)"
        case .copyChanged(let reported, let now): "this node's copy moved from \(reported), the best position found, to \(now)"
        }
    }
}
