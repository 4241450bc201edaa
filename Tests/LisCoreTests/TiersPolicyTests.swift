@testable import LisCore
import Testing

/// The seed's tier rule made exact: fractional factors, a local floor, cumulative tiers.
@Suite struct TiersPolicyTests {
    let policy = TiersPolicy(migration: MigrationConfig(), policy: PolicyConfig())
    let start = Instant.ms(1_000)

    func samples(_ latenciesMs: [Double], at: Instant? = nil) -> [BlockHeat.LatencySample] {
        latenciesMs.enumerated().map { i, ms in
            BlockHeat.LatencySample(
                request: RequestID(origin: NodeID("n"), seq: UInt64(i)), issuedAt: at ?? start, latencyMs: ms, exact: true)
        }
    }

    @Test func subMillisecondLocalLatencyIsNotRoundedToZero() {
        // 0.1 ms local vs 0.9 ms remote: 9×, the 5–10× tier (5 writes). The seed's integer
        // milliseconds would divide by zero here.
        #expect(policy.evaluate(samples: samples(Array(repeating: 0.9, count: 4)), localMs: 0.1, now: start) == nil)
        let d = policy.evaluate(samples: samples(Array(repeating: 0.9, count: 5)), localMs: 0.1, now: start)
        #expect(d?.tier == MigrationTier(minFactor: 5, slowWrites: 5))
        #expect(abs((d?.minFactor ?? 0) - 9) < 1e-9)
    }

    @Test func tiersFollowTheSeed() {
        let local = 0.1
        // ≥10×: three writes are enough.
        #expect(policy.evaluate(samples: samples([230, 230]), localMs: local, now: start) == nil)
        #expect(policy.evaluate(samples: samples([230, 230, 230]), localMs: local, now: start)?.tier.slowWrites == 3)
        // 2–5×: ten writes.
        #expect(policy.evaluate(samples: samples(Array(repeating: 0.3, count: 9)), localMs: local, now: start) == nil)
        #expect(policy.evaluate(samples: samples(Array(repeating: 0.3, count: 10)), localMs: local, now: start)?.tier.slowWrites == 10)
        // Below min_latency_factor (2×): never.
        #expect(policy.evaluate(samples: samples(Array(repeating: 0.19, count: 32)), localMs: local, now: start) == nil)
    }

    @Test func fastWritesCountInLowerTiers() {
        // Two ≥10× writes and three 6× writes: five writes are ≥5×, so the 5× tier fires.
        let d = policy.evaluate(samples: samples([5, 5, 0.6, 0.6, 0.6]), localMs: 0.1, now: start)
        #expect(d?.tier.minFactor == 5)
    }

    @Test func oldSamplesLeaveTheWindow() {
        let old = samples([230, 230, 230], at: .ms(0))
        #expect(policy.evaluate(samples: old, localMs: 0.1, now: .ms(60_000)) != nil)
        #expect(policy.evaluate(samples: old, localMs: 0.1, now: .ms(60_001)) == nil)
    }

    @Test func theFloorBoundsTheFactor() {
        // A measured local latency of ~0 must not make every write infinitely slow.
        var local = LocalLatency(floorMs: 0.05)
        local.observe(0)
        #expect(local.expectedMs == 0.05)
        // 0.3 ms remote is 6× the floor: the 5× tier, not the 10× one.
        let d = policy.evaluate(samples: samples(Array(repeating: 0.3, count: 5)), localMs: local.expectedMs, now: start)
        #expect(d?.tier.minFactor == 5)
    }

    @Test func configurableTiers() throws {
        var migration = MigrationConfig()
        migration.explicitTiers = [MigrationTier(minFactor: 100, slowWrites: 1)]
        let custom = TiersPolicy(migration: migration, policy: PolicyConfig())
        #expect(custom.evaluate(samples: samples([9.9]), localMs: 0.1, now: start) == nil)
        #expect(custom.evaluate(samples: samples([10]), localMs: 0.1, now: start)?.slowWrites == 1)
    }
}
