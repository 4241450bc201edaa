/// The dashboard's views, built from a source's state and the merge of its members' activity:
/// plain functions of their inputs, so contract tests can check them without a server.
public enum DashboardViews {
    /// A time window cut into at most `maxColumns` columns, each a whole number of the
    /// activity's columns.
    public struct Window: Sendable, Equatable {
        public var sinceMs: Int64
        public var untilMs: Int64
        public var maxColumns: Int

        public init(sinceMs: Int64, untilMs: Int64, maxColumns: Int) {
            self.sinceMs = sinceMs
            self.untilMs = max(untilMs, sinceMs + 1)
            self.maxColumns = max(1, maxColumns)
        }

        /// The first activity column, how many activity columns one view column covers, and the
        /// number of view columns.
        func grid(_ columnMs: Int64) -> (first: Int64, group: Int64, columns: Int) {
            let first = sinceMs / columnMs
            let last = (untilMs + columnMs - 1) / columnMs
            let span = max(1, last - first)
            let group = (span + Int64(maxColumns) - 1) / Int64(maxColumns)
            return (first, group, Int((span + group - 1) / group))
        }
    }

    public static func overview(_ state: DashboardState) -> Overview {
        Overview(
            kind: state.kind, title: state.title, now_ms: state.nowMs, policy: state.policy, paused: state.paused,
            regions: state.regions, hive: state.hive,
            volumes: state.volumes.map { volume in
                var held: [String: UInt64] = [:]
                let moved = state.holders[volume.name] ?? [:]
                for (_, region) in moved { held[region, default: 0] += 1 }
                held[volume.home, default: 0] += volume.blocks - UInt64(moved.count)
                return Overview.Volume(
                    name: volume.name, home: volume.home, allowed_regions: volume.allowed_regions, blocks: volume.blocks,
                    block_size_bytes: volume.block_size_bytes, survive: volume.survive, held_by_region: held.filter { $0.value > 0 })
            },
            clock: state.clock)
    }

    /// The heat map: rows are volume → blocks, columns time (docs/DASHBOARD.md "GET /v1/heat").
    public static func heat(
        _ state: DashboardState, _ activity: ActivitySnapshot, window: Window, maxRows: Int, volume only: String? = nil,
        blocks range: ClosedRange<UInt64>? = nil
    ) -> HeatMap {
        let (firstColumn, group, columns) = window.grid(activity.column_ms)
        var regions = state.regions.map(\.name)
        func index(_ region: String) -> Int {
            if let i = regions.firstIndex(of: region) { return i }
            regions.append(region)
            return regions.count - 1
        }
        func column(_ atMs: Int64) -> Int { Int((atMs / activity.column_ms - firstColumn) / group) }

        // Operations per block and view column, by the clients' region.
        struct Block: Hashable { var volume: String; var block: UInt64 }
        var counts: [Block: [Int: (writes: Int, reads: Int, byRegion: [Int: Int])]] = [:]
        for cell in activity.cells where only == nil || cell.volume == only {
            let c = column(cell.column * activity.column_ms)
            guard (0..<columns).contains(c) else { continue }
            var entry = counts[Block(volume: cell.volume, block: cell.block), default: [:]][c] ?? (0, 0, [:])
            entry.writes += cell.counts.writes
            entry.reads += cell.counts.reads
            entry.byRegion[index(cell.region), default: 0] += cell.counts.writes + cell.counts.reads
            counts[Block(volume: cell.volume, block: cell.block), default: [:]][c] = entry
        }
        // Each block's moves, oldest first.
        var movesOf: [Block: [Decision]] = [:]
        for move in activity.decisions where move.kind == .moved {
            movesOf[Block(volume: move.volume, block: move.block), default: []].append(move)
        }
        for key in movesOf.keys { movesOf[key]!.sort { $0.at_ms < $1.at_ms } }

        func holderNow(_ volume: VolumeInfo, _ block: UInt64) -> String {
            state.holders[volume.name]?[block] ?? movesOf[Block(volume: volume.name, block: block)]?.last?.to ?? volume.home
        }
        func row(_ volume: VolumeInfo, _ first: UInt64, _ last: UInt64) -> HeatMap.Row {
            let key = Block(volume: volume.name, block: first)
            let moves = movesOf[key] ?? []
            // The holder when the window starts: after the last move before it; before the
            // first move, where that move came from (a move after the window tells that too).
            let before = moves.last { $0.at_ms < window.sinceMs }
            let start = before?.to ?? moves.first?.from_region ?? holderNow(volume, first)
            var segments = [[0, index(start)]]
            for move in moves where move.at_ms >= window.sinceMs && move.at_ms < window.untilMs {
                segments.append([max(0, column(move.at_ms)), index(move.to ?? move.region)])
            }
            var cells: [[Int]] = []
            var maxWrites = 0
            for block in first...last {
                for (c, entry) in counts[Block(volume: volume.name, block: block)] ?? [:] {
                    cells.append([c, entry.writes, entry.reads, entry.byRegion.max { $0.value < $1.value }?.key ?? -1])
                }
            }
            if first < last { cells = merged(cells) }
            cells.sort { $0[0] < $1[0] }
            for cell in cells { maxWrites = max(maxWrites, cell[1]) }
            return HeatMap.Row(
                volume: volume.name, first: first, last: last, holder: index(holderNow(volume, first)), segments: segments,
                cells: cells, max_writes: maxWrites)
        }

        // A block is shown alone if it was used in the window or ever moved; the unused
        // blocks between two such are one row.
        var rows: [HeatMap.Row] = []
        var volumeRows: [[Int]] = []
        for volume in state.volumes.sorted(by: { $0.name < $1.name }) where only == nil || volume.name == only {
            guard volume.blocks > 0 else { continue }
            let lower = range.map { min($0.lowerBound, volume.blocks - 1) } ?? 0
            let upper = range.map { min($0.upperBound, volume.blocks - 1) } ?? volume.blocks - 1
            let moved = state.holders[volume.name] ?? [:]
            var singles = Set(moved.keys)
            for key in counts.keys where key.volume == volume.name { singles.insert(key.block) }
            for key in movesOf.keys where key.volume == volume.name { singles.insert(key.block) }
            var indices: [Int] = []
            var next = lower
            for block in singles.sorted() where (lower...upper).contains(block) {
                if block > next {
                    indices.append(rows.count)
                    rows.append(row(volume, next, block - 1))
                }
                indices.append(rows.count)
                rows.append(row(volume, block, block))
                next = block + 1
            }
            if next <= upper {
                indices.append(rows.count)
                rows.append(row(volume, next, upper))
            }
            volumeRows.append(indices)
        }

        // Too many rows: merge neighbours within each volume, k at a time.
        if rows.count > maxRows {
            var k = 2
            while volumeRows.reduce(0, { $0 + ($1.count + k - 1) / k }) > maxRows { k += 1 }
            var fewer: [HeatMap.Row] = []
            for indices in volumeRows {
                for chunk in stride(from: 0, to: indices.count, by: k) {
                    let part = indices[chunk..<min(indices.count, chunk + k)].map { rows[$0] }
                    // The busiest row speaks for the merged one (its holder and moves): a hot block
                    // that moved must not vanish into its idle neighbours' colour.
                    let busiest = part.max { a, b in
                        a.cells.reduce(0) { $0 + $1[1] + $1[2] } < b.cells.reduce(0) { $0 + $1[1] + $1[2] }
                    }!
                    var merged = busiest
                    merged.first = part[0].first
                    merged.last = part.last!.last
                    merged.cells = Self.merged(part.flatMap(\.cells)).sorted { $0[0] < $1[0] }
                    merged.max_writes = merged.cells.map { $0[1] }.max() ?? 0
                    fewer.append(merged)
                }
            }
            rows = fewer
        }

        let shown = Set(rows.map(\.volume))
        let moves = activity.decisions.filter { d in
            d.kind == .moved && d.at_ms >= window.sinceMs && d.at_ms < window.untilMs && shown.contains(d.volume)
                && (range?.contains(d.block) ?? true)
        }.sorted { $0.at_ms < $1.at_ms }.suffix(2_000).map {
            HeatMap.Move(
                volume: $0.volume, block: $0.block, at_ms: $0.at_ms, column: column($0.at_ms), from: $0.from_region.map(index),
                to: index($0.to ?? $0.region), cause: $0.cause, text: $0.text)
        }
        return HeatMap(
            now_ms: state.nowMs, start_ms: firstColumn * activity.column_ms, column_ms: group * activity.column_ms,
            columns: columns, regions: regions, rows: rows, moves: moves, missing: activity.missing)
    }

    /// Cells of the same column added up; the clients' region of the larger one kept.
    static func merged(_ cells: [[Int]]) -> [[Int]] {
        var byColumn: [Int: [Int]] = [:]
        for cell in cells {
            guard var sum = byColumn[cell[0]] else {
                byColumn[cell[0]] = cell
                continue
            }
            if cell[1] + cell[2] > sum[1] + sum[2] { sum[3] = cell[3] }
            sum[1] += cell[1]
            sum[2] += cell[2]
            byColumn[cell[0]] = sum
        }
        return Array(byColumn.values)
    }

    /// The move log, newest first, filtered.
    public static func decisions(
        _ activity: ActivitySnapshot, volume: String? = nil, block: UInt64? = nil, region: String? = nil,
        kind: Decision.Kind? = nil, limit: Int = 200
    ) -> [Decision] {
        activity.decisions.filter { d in
            (volume == nil || d.volume == volume) && (block == nil || d.block == block)
                && (region == nil || d.region == region || d.to == region || d.from_region == region)
                && (kind == nil || d.kind == kind)
        }.sorted { ($0.at_ms, $0.node) > ($1.at_ms, $1.node) }.prefix(max(0, limit)).map { $0 }
    }

    /// Client latency percentiles per region, node and operation, per view column.
    public static func latency(_ activity: ActivitySnapshot, window: Window) -> LatencyReport {
        let (firstColumn, group, columns) = window.grid(activity.column_ms)
        struct SeriesKey: Hashable { var region: String; var node: String; var op: String }
        var histograms: [SeriesKey: [Int: LatencyHistogram]] = [:]
        for entry in activity.latency {
            let c = Int((entry.column - firstColumn) / group)
            guard (0..<columns).contains(c) else { continue }
            histograms[SeriesKey(region: entry.region, node: entry.node, op: entry.op), default: [:]][c, default: LatencyHistogram()]
                .merge(entry.histogram)
        }
        let series = histograms.map { key, byColumn in
            LatencyReport.Series(
                region: key.region, node: key.node, op: key.op,
                points: byColumn.sorted { $0.key < $1.key }.map { c, h in
                    LatencyReport.Point(
                        column: c, count: h.total, p50_ms: h.quantile(0.5) ?? 0, p90_ms: h.quantile(0.9) ?? 0,
                        p99_ms: h.quantile(0.99) ?? 0)
                })
        }.sorted { ($0.region, $0.node, $0.op) < ($1.region, $1.node, $1.op) }
        return LatencyReport(start_ms: firstColumn * activity.column_ms, column_ms: group * activity.column_ms, series: series)
    }

    /// Where each volume is used: per hour and region, operations and bytes.
    public static func usage(_ state: DashboardState, _ activity: ActivitySnapshot, volume only: String? = nil) -> [VolumeUsage] {
        var hours: [String: [Int64: (ops: [String: Int], bytes: [String: UInt64])]] = [:]
        for entry in activity.usage where only == nil || entry.volume == only {
            var hour = hours[entry.volume, default: [:]][entry.hour_ms] ?? ([:], [:])
            hour.ops[entry.region, default: 0] += entry.counts.writes + entry.counts.reads
            hour.bytes[entry.region, default: 0] += entry.counts.bytes
            hours[entry.volume, default: [:]][entry.hour_ms] = hour
        }
        return state.volumes.map(\.name).filter { only == nil || $0 == only }.sorted().map { name in
            let byHour = hours[name] ?? [:]
            var total: [String: Int] = [:]
            for (_, hour) in byHour { for (region, n) in hour.ops { total[region, default: 0] += n } }
            let sum = total.values.reduce(0, +)
            return VolumeUsage(
                volume: name, share: sum == 0 ? [:] : total.mapValues { Double($0) / Double(sum) },
                hours: byHour.sorted { $0.key < $1.key }.map { VolumeUsage.Hour(hour_ms: $0.key, ops: $0.value.ops, bytes: $0.value.bytes) })
        }
    }
}
