import LisHTTP
import Testing

/// The exposition format of `GET /metrics` (Prometheus text format 0.0.4); the real node's
/// output is also checked by `promtool check metrics` in scripts/test-node.sh.
struct MetricsTests {
    static let latency = Metrics.Family("lis_t_seconds", .histogram, "A latency.")
    static let count = Metrics.Family("lis_t_total", .counter, "A counter.\nSecond line \\ here.")

    @Test func histogramBucketsAreCumulativeAndEndInInf() {
        let metrics = Metrics(labels: [("region", "nyc")])
        metrics.observe(Self.latency, [("op", "write")], seconds: 0.00002)  // the first bucket
        metrics.observe(Self.latency, [("op", "write")], seconds: 0.003)  // ≤ 5 ms
        metrics.observe(Self.latency, [("op", "write")], seconds: 60)  // past the last bound
        let lines = metrics.text().split(separator: "\n").map(String.init)
        #expect(lines.contains("# TYPE lis_t_seconds histogram"))
        #expect(lines.contains(#"lis_t_seconds_bucket{op="write",region="nyc",le="2.5e-05"} 1"#))
        #expect(lines.contains(#"lis_t_seconds_bucket{op="write",region="nyc",le="0.0025"} 1"#))
        #expect(lines.contains(#"lis_t_seconds_bucket{op="write",region="nyc",le="0.005"} 2"#))
        #expect(lines.contains(#"lis_t_seconds_bucket{op="write",region="nyc",le="10"} 2"#))
        #expect(lines.contains(#"lis_t_seconds_bucket{op="write",region="nyc",le="+Inf"} 3"#))
        #expect(lines.contains(#"lis_t_seconds_count{op="write",region="nyc"} 3"#))
        let sum = lines.first { $0.hasPrefix("lis_t_seconds_sum") }?.split(separator: " ").last.flatMap { Double($0) }
        #expect(sum.map { abs($0 - 60.00302) < 1e-9 } == true)
        let buckets = lines.filter { $0.hasPrefix("lis_t_seconds_bucket") }
        #expect(buckets.count == Metrics.latencyBuckets.count + 1)
    }

    @Test func countersGaugesAndEscaping() {
        let metrics = Metrics()
        metrics.declare(Metrics.Family("lis_t_empty", .gauge, "Nothing yet."))
        metrics.increment(Self.count, [("volume", #"a"b\c"#)])
        metrics.increment(Self.count, [("volume", #"a"b\c"#)], by: 2)
        metrics.set(Metrics.Family("lis_t_open", .gauge, "Open."), to: 0.5)
        let text = metrics.text()
        #expect(text.contains("# HELP lis_t_total A counter.\\nSecond line \\\\ here.\n"))
        #expect(text.contains(#"lis_t_total{volume="a\"b\\c"} 3"# + "\n"))
        #expect(text.contains("lis_t_open 0.5\n"))
        #expect(text.contains("# TYPE lis_t_empty gauge\n"), "a declared family is listed with no series")
        let names = text.split(separator: "\n").filter { $0.hasPrefix("# TYPE") }.map { $0.split(separator: " ")[2] }
        #expect(names == names.sorted(), "families in name order")
    }
}
