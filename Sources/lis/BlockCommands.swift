// `lis block …`: where a volume's blocks are, and an operator's moves, over a node's HTTP API.

import ArgumentParser
import Foundation
import LisHTTP

struct Block: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "See where a volume's blocks are held; move blocks to a region by hand.",
        discussion: """
            Talks to any node's HTTP API (--api URL or LIS_API; default 127.0.0.1:7780). A move is \
            a steal like the policy's, recorded in the move log as the operator's; the policy may \
            move the block again later if its users are elsewhere.
            """,
        subcommands: [BlockList.self, BlockMove.self, BlockWhy.self]
    )
}

struct BlockList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list", abstract: "List the blocks of a volume that moved, with their holders.")

    @OptionGroup var options: APIOptions

    @Argument(help: "The volume.")
    var volume: String

    @Flag(name: .long, help: "Print the API's JSON instead of a table.")
    var json = false

    func run() async throws {
        let blocks = try await options.client.send("GET", "/v1/volumes/\(volume)/blocks", expecting: VolumeBlocks.self)
        if json {
            try printJSON(blocks)
            return
        }
        print("\(blocks.volume): \(blocks.blocks) blocks, home \(blocks.home); \(blocks.moved.count) moved, the rest held in \(blocks.home)")
        guard !blocks.moved.isEmpty else { return }
        print("BLOCK".padding(toLength: 8, withPad: " ", startingAt: 0) + "HOLDER".padding(toLength: 20, withPad: " ", startingAt: 0)
            + "REGION".padding(toLength: 12, withPad: " ", startingAt: 0) + "EPOCH".padding(toLength: 8, withPad: " ", startingAt: 0) + "STATE")
        for lease in blocks.moved {
            print(
                String(lease.block).padding(toLength: 8, withPad: " ", startingAt: 0)
                    + lease.holder.padding(toLength: 20, withPad: " ", startingAt: 0)
                    + (lease.region ?? "-").padding(toLength: 12, withPad: " ", startingAt: 0)
                    + String(lease.epoch).padding(toLength: 8, withPad: " ", startingAt: 0) + lease.state)
        }
    }
}

struct BlockMove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "move",
        abstract: "Move blocks of a volume to a region.",
        discussion: """
            Example: lis block move vm-100-disk-0:0-15 --to sydney. A node of that region steals each \
            block (Hive still refuses a region the volume may not live in); the command waits until \
            every block is held there, printing progress, for at most --wait seconds (0: do not wait).
            """
    )

    @OptionGroup var options: APIOptions

    @Argument(help: "VOLUME:BLOCK or VOLUME:FIRST-LAST (block numbers, from 0; the range includes LAST).")
    var blocks: String

    @Option(name: .long, help: "The region to move them to.")
    var to: String

    @Option(name: .long, help: "How long to wait for the moves, in seconds (0: ask and return).")
    var wait: Double = 60

    /// `blocks` parsed: the volume and the range.
    var parsed: (volume: String, first: UInt64, last: UInt64)? {
        guard let colon = blocks.lastIndex(of: ":") else { return nil }
        let volume = String(blocks[..<colon])
        let range = blocks[blocks.index(after: colon)...].split(separator: "-", omittingEmptySubsequences: false)
        guard !volume.isEmpty, (1...2).contains(range.count), let first = UInt64(range[0]),
            let last = range.count == 2 ? UInt64(range[1]) : first, first <= last
        else { return nil }
        return (volume, first, last)
    }

    func validate() throws {
        guard parsed != nil else {
            throw ValidationError("\"\(blocks)\" is not VOLUME:BLOCK or VOLUME:FIRST-LAST with FIRST ≤ LAST, such as vm:0-15")
        }
        guard !to.isEmpty else { throw ValidationError("--to names a region") }
        guard wait >= 0, wait.isFinite else { throw ValidationError("--wait must be a number of seconds ≥ 0") }
    }

    func run() async throws {
        guard let (volume, first, last) = parsed else { return }
        let client = options.client
        let accepted = try await client.send(
            "POST", "/v1/blocks/move", body: MoveBlocksRequest(volume: volume, first: first, last: last, to: to),
            expecting: MoveBlocksAccepted.self)
        let count = last - first + 1
        print("moving \(volume):\(first)\(last == first ? "" : "-\(last)") to \(to): \(accepted.node) steals \(count == 1 ? "it" : "them")")
        guard wait > 0 else { return }
        let deadline = Date().addingTimeInterval(wait)
        var reported = -1
        while true {
            let now = try await client.send("GET", "/v1/volumes/\(volume)/blocks", expecting: VolumeBlocks.self)
            let there = now.moved.filter { (first...last).contains($0.block) && $0.region == to && $0.state == "active" }.count
            if there != reported {
                FileHandle.standardError.write(Data("  \(there) of \(count) held in \(to)\n".utf8))
                reported = there
            }
            if there == count {
                print("done: every block is held in \(to)")
                return
            }
            if Date() >= deadline {
                print("after \(Int(wait)) s \(there) of \(count) blocks are held in \(to); the rest may still move (lis block list \(volume))")
                throw ExitCode(1)
            }
            try await Task.sleep(for: .milliseconds(250))
        }
    }
}

struct BlockWhy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "why",
        abstract: "Why a block moved or stayed: its decisions, newest first.",
        discussion: """
            The move log the dashboard shows (GET /v1/decisions), gathered from every member: \
            moves and steals with the rule and numbers that started them, and the moves a \
            holder's policy looked at and declined, with why. Example: lis block why vm:3
            """
    )

    @OptionGroup var options: APIOptions

    @Argument(help: "VOLUME:BLOCK, or VOLUME for all its blocks.")
    var block: String

    @Option(name: .long, help: "At most this many decisions (1–2000).")
    var limit: Int = 20

    @Flag(name: .long, help: "Print the API's JSON (with the typed decision records).")
    var json = false

    func validate() throws {
        guard (1...2_000).contains(limit) else { throw ValidationError("--limit must be from 1 to 2000") }
        if let colon = block.lastIndex(of: ":"), UInt64(block[block.index(after: colon)...]) == nil {
            throw ValidationError("\"\(block)\" is not VOLUME:BLOCK (a block number) or VOLUME")
        }
    }

    func run() async throws {
        var volume = block
        var query = "limit=\(limit)"
        if let colon = block.lastIndex(of: ":") {
            volume = String(block[..<colon])
            query += "&block=\(block[block.index(after: colon)...])"
        }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        query += "&volume=\(volume.addingPercentEncoding(withAllowedCharacters: allowed) ?? volume)"
        let decisions = try await options.client.send("GET", "/v1/decisions?\(query)", expecting: [Decision].self)
        if json {
            try printJSON(decisions)
            return
        }
        guard !decisions.isEmpty else {
            print("no decision about \(block) is kept: it never moved and no holder looked at moving it (or the nodes restarted since)")
            return
        }
        for d in decisions {
            let when = Date(timeIntervalSince1970: Double(d.at_ms) / 1000).formatted(.iso8601.time(includingFractionalSeconds: false))
            var what = "\(d.kind.rawValue) \(d.volume):\(d.block)"
            switch d.kind {
            case .moved, .steal_started:
                what += " \(d.from_region ?? d.from ?? "?") → \(d.to ?? d.region)"
                if let ms = d.steal_ms { what += " in \(String(format: "%.1f", ms)) ms" }
                if let cause = d.cause { what += " (\(cause))" }
            case .declined: what += " → \(d.to ?? "?")"
            case .abandoned: break
            }
            print("\(when)  \(d.node)  \(what): \(d.text)")
        }
    }
}
