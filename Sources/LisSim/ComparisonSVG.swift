import Foundation
import LisCore

/// The pictures of `lis sim compare --svg DIR`, per scenario: the mean write latency over time
/// of every policy, and for each policy a block × time map coloured by the region holding the
/// block. Plain SVG, so any browser opens them.
public struct ComparisonSVG {
    /// Columns of the time axis.
    static let bins = 200
    /// At most this many blocks (rows) in a holder map: the most-used ones, in block order.
    static let maxRows = 160
    static let palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#b07aa1", "#76b7b2", "#edc948", "#9c755f"]

    let scenario: Scenario
    let runs: [(policy: String, report: SimReport)]

    public init(scenario: Scenario, runs: [(policy: String, report: SimReport)]) {
        self.scenario = scenario
        self.runs = runs
    }

    var endMs: Double { max(scenario.trace.last?.tMs ?? 1, 1) }

    func color(_ i: Int) -> String { Self.palette[i % Self.palette.count] }

    /// File name → contents.
    public func files() -> [(String, String)] {
        [("\(scenario.name)-latency.svg", latency())] + runs.map { run in ("\(scenario.name)-\(run.policy)-holders.svg", holders(run.report)) }
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    static func number(_ x: Double) -> String { TiersPolicy.fmt(x) }

    /// Mean write latency per time bin, one line per policy; the y axis is logarithmic (local
    /// writes take 0.05 ms, remote ones hundreds).
    func latency() -> String {
        let width = 900.0, height = 420.0, left = 70.0, right = 170.0, top = 40.0, bottom = 50.0
        let plotW = width - left - right, plotH = height - top - bottom
        let series: [[Double?]] = runs.map { run in
            var sums = [Double](repeating: 0, count: Self.bins)
            var counts = [Int](repeating: 0, count: Self.bins)
            for sample in run.report.writeSamples {
                let bin = min(Self.bins - 1, Int(sample.tMs / endMs * Double(Self.bins)))
                sums[bin] += sample.latencyMs
                counts[bin] += 1
            }
            return (0..<Self.bins).map { counts[$0] == 0 ? nil : sums[$0] / Double(counts[$0]) }
        }
        let values = series.flatMap { $0.compactMap { $0 } }
        let lo = max(0.01, values.min() ?? 0.01), hi = max(lo * 10, values.max() ?? 1)
        let (logLo, logHi) = (log10(lo), log10(hi))
        func y(_ v: Double) -> Double { top + plotH * (1 - (log10(max(v, lo)) - logLo) / (logHi - logLo)) }
        func x(_ bin: Int) -> Double { left + plotW * (Double(bin) + 0.5) / Double(Self.bins) }
        var out = svgHeader(width, height, "\(scenario.name): mean write latency over time (log scale)")
        // Axes and decades.
        out += "<line x1='\(left)' y1='\(top + plotH)' x2='\(left + plotW)' y2='\(top + plotH)' stroke='#333'/>\n"
        out += "<line x1='\(left)' y1='\(top)' x2='\(left)' y2='\(top + plotH)' stroke='#333'/>\n"
        var decade = pow(10, (logLo).rounded(.down))
        while decade <= hi * 1.0001 {
            if decade >= lo * 0.9999 {
                out += "<line x1='\(left)' y1='\(y(decade))' x2='\(left + plotW)' y2='\(y(decade))' stroke='#ddd'/>\n"
                out += "<text x='\(left - 6)' y='\(y(decade) + 4)' text-anchor='end' font-size='11'>\(Self.number(decade)) ms</text>\n"
            }
            decade *= 10
        }
        for i in 0...4 {
            let t = endMs * Double(i) / 4
            let px = left + plotW * Double(i) / 4
            out += "<text x='\(px)' y='\(top + plotH + 18)' text-anchor='middle' font-size='11'>\(timeLabel(t))</text>\n"
        }
        out += "<text x='\(left + plotW / 2)' y='\(height - 10)' text-anchor='middle' font-size='12'>simulated time</text>\n"
        for (i, run) in runs.enumerated() {
            var path = ""
            for (bin, v) in series[i].enumerated() {
                guard let v else { continue }
                path += "\(path.isEmpty ? "M" : "L")\(Self.number(x(bin))),\(Self.number(y(v))) "
            }
            out += "<path d='\(path)' fill='none' stroke='\(color(i))' stroke-width='1.5' opacity='0.85'/>\n"
            let mean = SimReport.mean(run.report.writeSamples.map(\.latencyMs))
            out += "<rect x='\(left + plotW + 15)' y='\(top + Double(i) * 20)' width='12' height='12' fill='\(color(i))'/>\n"
            out += "<text x='\(left + plotW + 32)' y='\(top + Double(i) * 20 + 10)' font-size='12'>\(Self.escape(run.policy)) (\(Self.number(mean)) ms)</text>\n"
        }
        return out + "</svg>\n"
    }

    /// Rows: blocks; columns: time bins; colour: the region holding the block at the bin's start.
    func holders(_ report: SimReport) -> String {
        let regions = scenario.regions
        // The blocks the trace uses, most-used first, capped, then in block order.
        var uses: [BlockKey: Int] = [:]
        for op in scenario.trace where op.op != .flush {
            guard let size = scenario.volumes.first(where: { $0.name == op.volume })?.blockSizeBytes else { continue }
            uses[BlockKey(op.volume, BlockID(op.offset / size)), default: 0] += 1
        }
        let rows = uses.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(Self.maxRows).map(\.key).sorted()
        let rowH = max(2.0, min(8.0, 480.0 / Double(max(rows.count, 1))))
        let cellW = 4.0
        let left = 150.0, top = 40.0, right = 150.0
        let width = left + cellW * Double(Self.bins) + right
        let height = top + rowH * Double(rows.count) + 50
        var movesByKey: [BlockKey: [SimReport.Move]] = [:]
        for move in report.moves { movesByKey[move.key, default: []].append(move) }
        var out = svgHeader(width, height, "\(scenario.name) under \(report.policy): holder region of each block over time (\(report.moves.count) moves)")
        for (r, key) in rows.enumerated() {
            let home = scenario.volumes.first { $0.name == key.volume }!.home
            let moves = movesByKey[key] ?? []
            var next = 0
            var holder = home
            var runStart = 0
            func flush(_ end: Int) {
                guard end > runStart else { return }
                let slot = regions.firstIndex(of: holder) ?? 0
                out += "<rect x='\(left + cellW * Double(runStart))' y='\(top + rowH * Double(r))' width='\(cellW * Double(end - runStart))' height='\(rowH)' fill='\(color(slot))'/>\n"
            }
            for bin in 0..<Self.bins {
                let t = endMs * Double(bin) / Double(Self.bins)
                var now = holder
                while next < moves.count, moves[next].tMs <= t {
                    now = moves[next].to
                    next += 1
                }
                if now != holder {
                    flush(bin)
                    holder = now
                    runStart = bin
                }
            }
            flush(Self.bins)
            if rows.count <= 40 || r % max(1, rows.count / 20) == 0 {
                out += "<text x='\(left - 6)' y='\(top + rowH * Double(r) + rowH)' text-anchor='end' font-size='10'>\(Self.escape("\(key)"))</text>\n"
            }
        }
        for i in 0...4 {
            let px = left + cellW * Double(Self.bins) * Double(i) / 4
            out += "<text x='\(px)' y='\(top + rowH * Double(rows.count) + 16)' text-anchor='middle' font-size='11'>\(timeLabel(endMs * Double(i) / 4))</text>\n"
        }
        for (i, region) in regions.enumerated() {
            out += "<rect x='\(width - right + 15)' y='\(top + Double(i) * 20)' width='12' height='12' fill='\(color(i))'/>\n"
            out += "<text x='\(width - right + 32)' y='\(top + Double(i) * 20 + 10)' font-size='12'>\(Self.escape(region.name))</text>\n"
        }
        return out + "</svg>\n"
    }

    func svgHeader(_ width: Double, _ height: Double, _ title: String) -> String {
        "<svg xmlns='http://www.w3.org/2000/svg' width='\(Int(width))' height='\(Int(height))' font-family='sans-serif'>\n"
            + "<rect width='100%' height='100%' fill='white'/>\n"
            + "<text x='10' y='22' font-size='14' font-weight='bold'>\(Self.escape(title))</text>\n"
    }

    func timeLabel(_ ms: Double) -> String {
        if endMs >= 3 * 3_600_000 { return "\(Self.number(ms / 3_600_000)) h" }
        if endMs >= 180_000 { return "\(Self.number(ms / 60_000)) min" }
        return "\(Self.number(ms / 1000)) s"
    }
}
