// `lis volume …`: volumes on a running node, over its HTTP API (LisHTTP).
//
// These subcommands are async, so the root command (Sources/lis/Lis.swift) must stay an
// `AsyncParsableCommand` with `@main` on it (swift-argument-parser #433).

import ArgumentParser
import AsyncHTTPClient
import Foundation
import LisCore
import LisHTTP


struct Volume: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list, resize and delete volumes on a running node.",
        discussion: """
            Talks to the node's HTTP API (`lis serve` listens on 127.0.0.1:7780 by default). Give \
            another node with --api URL or the LIS_API environment variable. Each volume is also an \
            NBD export of the same name.
            """,
        subcommands: [VolumeCreate.self, VolumeList.self, VolumeShow.self, VolumeResize.self, VolumePin.self, VolumeUnpin.self, VolumeDelete.self]
    )
}

/// `--api URL`, shared by every volume subcommand.
struct APIOptions: ParsableArguments {
    static let defaultURL = "http://127.0.0.1:7780"

    @Option(name: .long, help: "The node's API URL (default: $LIS_API, else \(APIOptions.defaultURL)).")
    var api: String?

    /// `--api`, else `$LIS_API`, else the default; without a trailing slash.
    var baseURL: String {
        var url = api ?? ProcessInfo.processInfo.environment["LIS_API"].flatMap { $0.isEmpty ? nil : $0 }
            ?? Self.defaultURL
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    @Option(
        name: .customLong("token-file"),
        help: "A file holding the cluster's API token, which a node bound outside loopback requires (default: $LIS_API_TOKEN_FILE; or the token itself in $LIS_API_TOKEN). `lis cluster init` writes it.")
    var tokenFile: String?

    /// The API token: `--token-file`, else `$LIS_API_TOKEN_FILE`, else `$LIS_API_TOKEN`; nil if none.
    func token() throws -> String? {
        let environment = ProcessInfo.processInfo.environment
        if let path = tokenFile ?? environment["LIS_API_TOKEN_FILE"].flatMap({ $0.isEmpty ? nil : $0 }) {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw ValidationError("cannot read the API token file \(path)")
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return environment["LIS_API_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func validate() throws {
        _ = try token()
        let url = baseURL
        guard let parsed = URL(string: url), let scheme = parsed.scheme, ["http", "https"].contains(scheme),
            parsed.host != nil
        else {
            let source = api != nil ? "--api" : "LIS_API"
            throw ValidationError("\(source) \"\(url)\" is not an http:// or https:// URL, such as \(Self.defaultURL)")
        }
    }

    var client: APIClient { APIClient(baseURL: baseURL, token: (try? token()) ?? nil) }
}

struct VolumeCreate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a volume.",
        discussion: """
            Sizes are bytes or binary units: 4096, 64K, 1M, 20G, 1.5T (or KiB, MiB, GiB, TiB). \
            Example: lis volume create vm-100-disk-0 --size 20G --survive region
            """
    )

    @OptionGroup var options: APIOptions

    @Argument(help: "The volume's name (letters, digits, '-', '_', '.'); also its NBD export name.")
    var name: String

    @Option(name: .long, help: "The volume's size: a multiple of 4K, such as 20G.")
    var size: String

    @Option(
        name: .customLong("block-size"),
        help: "The unit of lease and migration: a power of two from 64K to 64M (default: the node's, 1M).")
    var blockSize: String?

    @Option(name: .long, help: "The region whose node holds never-moved blocks (default: the node's region).")
    var home: String?

    @Option(name: .long, help: "node: writes survive a node failure; region: a region failure (one WAN hop per write).")
    var survive: String?

    @Option(
        name: .customLong("allowed-regions"),
        help: "Regions that may hold the volume's blocks, comma-separated, including the home region (default: all).")
    var allowedRegions: String?

    @Flag(name: .long, help: "Print the new volume as the API's JSON instead of a sentence.")
    var json = false

    /// The regions of `--allowed-regions a,b`, as typed.
    var allowedRegionNames: [String]? {
        allowedRegions.map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }

    func validate() throws {
        // The node checks all of this too; checking here makes a typo fail before any request.
        do {
            _ = try VolumeRequestValidation.name(name, key: "NAME")
            _ = try VolumeRequestValidation.size(.text(size), key: "--size")
            if let blockSize { _ = try VolumeRequestValidation.blockSize(.text(blockSize), key: "--block-size") }
            if let survive { _ = try VolumeRequestValidation.survival(survive, key: "--survive") }
            let homeRegion = try home.map { text throws(APIError) in try VolumeRequestValidation.region(text, key: "--home") }
            if let names = allowedRegionNames {
                // Without --home the home is the node's region, which only the node knows: then
                // check the names alone (standing in the first for the home) and leave the rest
                // to the node.
                let home = homeRegion ?? RegionID(names.first ?? "")
                _ = try VolumeRequestValidation.allowedRegions(names, home: home, key: "--allowed-regions")
            }
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        let request = CreateVolumeRequest(
            name: name, size: .text(size), block_size: blockSize.map(SizeValue.text), home: home, survive: survive,
            allowed_regions: allowedRegionNames)
        let volume = try await options.client.send("POST", "/v1/volumes", body: request, expecting: VolumeInfo.self)
        if json { return try printJSON(volume) }
        print(
            "created volume \(volume.name): \(ByteSize.format(volume.size_bytes)) in \(volume.blocks) blocks of "
                + "\(ByteSize.format(volume.block_size_bytes)), home \(volume.home), survive \(volume.survive), "
                + "allowed regions \(volume.allowed_regions?.joined(separator: ",") ?? "all")")
    }
}

struct VolumeList: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the cluster's volumes.")

    @OptionGroup var options: APIOptions

    @Flag(name: .long, help: "Print the API's JSON (an array of volumes) instead of a table.")
    var json = false

    func run() async throws {
        let volumes = try await options.client.send("GET", "/v1/volumes", expecting: [VolumeInfo].self)
        if json { return try printJSON(volumes) }
        if volumes.isEmpty {
            print("no volumes; create one with `lis volume create NAME --size 20G`")
            return
        }
        let rows = [["NAME", "SIZE", "BLOCK SIZE", "BLOCKS", "HOME", "SURVIVE", "ALLOWED"]]
            + volumes.map { v in
                [
                    v.name, ByteSize.format(v.size_bytes), ByteSize.format(v.block_size_bytes), String(v.blocks), v.home,
                    v.survive, v.allowed_regions?.joined(separator: ",") ?? "all",
                ]
            }
        print(Table.render(rows), terminator: "")
    }
}

struct VolumeShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show", abstract: "Show one volume; fails if there is none of that name.")

    @OptionGroup var options: APIOptions

    @Argument(help: "The volume's name.")
    var name: String

    @Flag(name: .long, help: "Print the API's JSON (one volume) instead of lines.")
    var json = false

    func validate() throws { try validateVolumeName(name) }

    func run() async throws {
        let v = try await options.client.send("GET", "/v1/volumes/\(name)", expecting: VolumeInfo.self)
        if json { return try printJSON(v) }
        print(
            Table.render([
                ["name", v.name], ["size", "\(ByteSize.format(v.size_bytes)) (\(v.size_bytes) bytes)"],
                ["blocks", "\(v.blocks) of \(ByteSize.format(v.block_size_bytes))"], ["home", v.home], ["survive", v.survive],
                ["allowed regions", v.allowed_regions?.joined(separator: ",") ?? "all"],
            ]), terminator: "")
    }
}

struct VolumeResize: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resize",
        abstract: "Grow a volume.",
        discussion: """
            Volumes only grow: shrinking would cut off data the guest may still use. QEMU cannot \
            grow an NBD disk while it is attached, so detach the disk (or stop the VM) first, \
            resize, attach it again, and then grow the partition and file system inside the guest.
            """
    )

    @OptionGroup var options: APIOptions

    @Argument(help: "The volume's name.")
    var name: String

    @Option(name: .long, help: "The new size: at least the current size, a multiple of 4K, such as 40G.")
    var size: String

    @Flag(name: .long, help: "Print the volume as the API's JSON instead of a sentence.")
    var json = false

    func validate() throws {
        do {
            _ = try VolumeRequestValidation.name(name, key: "NAME")
            _ = try VolumeRequestValidation.size(.text(size), key: "--size")
        } catch {
            throw ValidationError(error.message)
        }
    }

    func run() async throws {
        let volume = try await options.client.send(
            "POST", "/v1/volumes/\(name)/resize", body: ResizeVolumeRequest(size: .text(size)),
            expecting: VolumeInfo.self)
        if json { return try printJSON(volume) }
        print("volume \(volume.name) is now \(ByteSize.format(volume.size_bytes)) in \(volume.blocks) blocks")
    }
}

struct VolumePin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pin",
        abstract: "Keep a volume's blocks in some regions only.",
        discussion: """
            Example: lis volume pin vm-100-disk-0 --regions nyc,london. From then on only nodes of \
            those regions may hold the volume's blocks: Hive's compare-and-set refuses any other \
            holder, below every policy and operator's move. The list must include the volume's home. \
            Blocks held elsewhere now are named in the refusal: move them first with lis block move. \
            lis volume unpin allows every region again.
            """
    )

    @OptionGroup var options: APIOptions

    @Argument(help: "The volume's name.")
    var name: String

    @Option(name: .long, help: "The regions, comma-separated, such as nyc,london.")
    var regions: String

    var list: [String] { regions.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }

    func validate() throws {
        do {
            _ = try VolumeRequestValidation.name(name, key: "NAME")
            for (i, region) in list.enumerated() { _ = try VolumeRequestValidation.region(region, key: "--regions[\(i)]") }
        } catch {
            throw ValidationError(error.message)
        }
        guard !list.isEmpty else { throw ValidationError("--regions names at least the volume's home region") }
    }

    func run() async throws {
        let volume = try await options.client.send(
            "POST", "/v1/volumes/\(name)/pin", body: PinVolumeRequest(allowed_regions: list), expecting: VolumeInfo.self)
        print("volume \(volume.name) pinned to \(volume.allowed_regions?.joined(separator: ",") ?? "every region")")
    }
}

struct VolumeUnpin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unpin", abstract: "Let a volume's blocks live in every region again.")

    @OptionGroup var options: APIOptions

    @Argument(help: "The volume's name.")
    var name: String

    func run() async throws {
        let volume = try await options.client.send(
            "POST", "/v1/volumes/\(name)/pin", body: PinVolumeRequest(allowed_regions: nil), expecting: VolumeInfo.self)
        print("volume \(volume.name) may live in every region")
    }
}

struct VolumeDelete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a volume and all its data.",
        discussion: "Detach the disk from every VM first: this cannot be undone."
    )

    @OptionGroup var options: APIOptions

    @Argument(help: "The volume's name.")
    var name: String

    func validate() throws { try validateVolumeName(name) }

    func run() async throws {
        try await options.client.send("DELETE", "/v1/volumes/\(name)")
        print("deleted volume \(name)")
    }
}

/// The node's HTTP API as the CLI calls it. Failures are printed for people (the API's own
/// message, verbatim, or why the node could not be reached) and end the command non-zero.
struct APIClient {
    var baseURL: String
    /// Sent as `Authorization: Bearer` when set.
    var token: String? = nil
    /// Creating a volume allocates its storage; give a busy node time.
    var timeoutSeconds: Double = 60

    /// Sends a request without a body and decodes the answer as `T`.
    func send<T: Decodable>(_ method: String, _ path: String, expecting type: T.Type) async throws -> T {
        try decode(type, try await exchange(method, path, body: nil))
    }

    /// Sends `body` as JSON and decodes the answer as `T`.
    func send<T: Decodable>(_ method: String, _ path: String, body: some Encodable, expecting type: T.Type)
        async throws -> T
    {
        try decode(type, try await exchange(method, path, body: try JSONEncoder().encode(body)))
    }

    /// Sends a request whose answer has no body (204).
    func send(_ method: String, _ path: String) async throws {
        _ = try await exchange(method, path, body: nil)
    }

    private func decode<T: Decodable>(_: T.Type, _ data: Data) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw fail("the node at \(baseURL) sent an answer this lis cannot read (\(error)); is it the same version?")
        }
    }

    private func exchange(_ method: String, _ path: String, body: Data?) async throws -> Data {
        var headers = [("Content-Type", "application/json")]
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        let answer: HTTPAnswer
        do {
            answer = try await HTTPAnswer.fetch(method, baseURL + path, body: body, headers: headers, timeoutSeconds: timeoutSeconds)
        } catch {
            throw fail("cannot reach the Lis node at \(baseURL): is `lis serve` running? (\(error))")
        }
        if (200..<300).contains(answer.status) { return answer.body }
        if let error = try? JSONDecoder().decode(APIErrorBody.self, from: answer.body) {
            throw fail(error.error)
        }
        throw fail("\(baseURL) answered \(answer.status) without a Lis error message; is it a Lis node?")
    }

    /// Prints `message` to stderr and ends the command with exit code 1.
    private func fail(_ message: String) -> ExitCode {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        return .failure
    }
}

/// Checks a volume name before any request, so that a typo fails with the rule.
func validateVolumeName(_ name: String) throws {
    do {
        _ = try VolumeRequestValidation.name(name, key: "NAME")
    } catch {
        throw ValidationError(error.message)
    }
}

/// One HTTP exchange over AsyncHTTPClient (the node's own client, so the binary needs no libcurl).
struct HTTPAnswer {
    var status: Int
    var body: Data

    /// A refused connection fails the command at once: a node that is down is not going to come
    /// up during it (the default client retries until the whole request's deadline).
    private static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration(timeout: .init(connect: .seconds(5)))
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: .singletonMultiThreadedEventLoopGroup, configuration: configuration)
    }()

    static func fetch(
        _ method: String, _ url: String, body: Data? = nil, headers: [(String, String)] = [], timeoutSeconds: Double
    ) async throws -> HTTPAnswer {
        var request = HTTPClientRequest(url: url)
        request.method = .RAW(value: method)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body { request.body = .bytes(body) }
        let response = try await client.execute(request, timeout: .milliseconds(Int64(timeoutSeconds * 1000)))
        let bytes = try await response.body.collect(upTo: 256 << 20)
        return HTTPAnswer(status: Int(response.status.code), body: Data(buffer: bytes))
    }
}

/// Prints an API answer as the commands' `--json` output: pretty, keys sorted, slashes plain.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// Left-aligned columns separated by two spaces.
enum Table {
    static func render(_ rows: [[String]]) -> String {
        let columns = rows.map(\.count).max() ?? 0
        let widths = (0..<columns).map { c in rows.map { $0.indices.contains(c) ? $0[c].count : 0 }.max() ?? 0 }
        var text = ""
        for row in rows {
            var line = ""
            for (c, cell) in row.enumerated() {
                line += c == row.count - 1 ? cell : cell.padding(toLength: widths[c] + 2, withPad: " ", startingAt: 0)
            }
            text += line + "\n"
        }
        return text
    }
}
