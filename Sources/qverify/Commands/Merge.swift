import ArgumentParser
import Foundation
import QVCompare
import QVGraph
import QVIO

/// A shard's file: the command line that made it and each comparison's batch records.
struct ShardFile: Codable {
    var schema = 1
    var tool: String
    /// The verify/compare arguments, without --shard and --report-dir.
    var arguments: [String]
    var shard: Int
    var of: Int
    var comparisons: [String: [Harness.BatchRecord]]
}

/// Set by `merge` while it re-runs a verify/compare command from its shards: the records to fold
/// instead of running the samples.
enum MergeContext {
    nonisolated(unsafe) static var records: [String: [Harness.BatchRecord]]?
}

extension HarnessOptions {
    /// --shard K/N as (K − 1, N).
    func shardSpec() throws -> (index: Int, count: Int)? {
        guard let s = shard else { return nil }
        let parts = s.split(separator: "/").compactMap { Int($0) }
        guard parts.count == 2, parts[1] >= 1, (1...parts[1]).contains(parts[0]) else {
            throw ValidationError("--shard takes K/N with 1 ≤ K ≤ N, got '\(s)'")
        }
        return (parts[0] - 1, parts[1])
    }

    /// A comparison: from the merged shards' records, else a whole run.
    func comparison(
        _ h: Harness, name: String, samples: SampleSource, progress: ((Int, Int) -> Void)?
    ) throws -> ComparisonReport {
        if let all = MergeContext.records {
            return try h.report(name: name, records: all[name] ?? [], samples: samples, threads: evaluation.threadCount)
        }
        return try h.run(name: name, samples: samples, threads: evaluation.threadCount, progress: progress)
    }

    /// Writes `<report-dir>/shard-K-of-N.json` for the command `command` run with `arguments`.
    func writeShard(_ records: [String: [Harness.BatchRecord]], command: String, arguments: [String]) throws {
        guard let (k, n) = try shardSpec(), let dir = reportDir else { return }
        try OutputPaths.folder(dir, option: "--report-dir")
        let file = ShardFile(
            tool: "qverify \(QVerify.version)", arguments: [command] + shardlessArguments(arguments), shard: k + 1,
            of: n,
            comparisons: records)
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        e.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let path = (dir as NSString).appendingPathComponent("shard-\(k + 1)-of-\(n).json")
        try e.encode(file).write(to: URL(fileURLWithPath: path), options: .atomic)
        print(
            "\(command): shard \(k + 1)/\(n): \(records.values.map(\.count).max() ?? 0) batch(es) written to \(path); run qverify merge on all \(n) shards' folders"
        )
    }
}

/// The arguments without --shard/--report-dir (and their values): what every shard must share.
func shardlessArguments(_ args: [String]) -> [String] {
    var out: [String] = [], skip = false
    for a in args {
        if skip { skip = false; continue }
        if a == "--shard" || a == "--report-dir" { skip = true; continue }
        if a.hasPrefix("--shard=") || a.hasPrefix("--report-dir=") { continue }
        out.append(a)
    }
    return out
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract:
            "Merge the shards of a verify or compare run (--shard K/N) into the report one run would have written.",
        discussion:
            "Every shard must come from the same command line but for --shard and --report-dir. Models and --inputs must still be readable: a put-back pass (rounding ties) or the per-target sweep of verify reads them again. Exit codes as the merged command."
    )

    @Argument(help: "Folders (or files) holding shard-K-of-N.json files.")
    var shards: [String]

    @Option(help: "Folder for the merged report (as the command's --report-dir).")
    var reportDir: String?

    func run() throws {
        var files: [ShardFile] = []
        try runReportingErrors {
            for s in shards {
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: s, isDirectory: &isDir) else {
                    throw QVError.badInput("\(s): no such file or folder")
                }
                let paths =
                    isDir.boolValue
                    ? try FileManager.default.contentsOfDirectory(atPath: s).filter {
                        $0.hasPrefix("shard-") && $0.hasSuffix(".json")
                    }.sorted().map { (s as NSString).appendingPathComponent($0) }
                    : [s]
                for p in paths {
                    guard let d = readFileBytes(p).map({ Data($0) }),
                        let f = try? JSONDecoder().decode(ShardFile.self, from: d)
                    else {
                        throw QVError.badInput("\(p): not a qverify shard file")
                    }
                    files.append(f)
                }
            }
            guard let first = files.first else {
                throw QVError.badInput("no shard-K-of-N.json files in \(shards.joined(separator: ", "))")
            }
            for f in files where f.arguments != first.arguments || f.of != first.of {
                throw QVError.badInput(
                    "shard \(f.shard)/\(f.of) comes from another command line (\(f.arguments.joined(separator: " "))) than shard \(first.shard)/\(first.of) (\(first.arguments.joined(separator: " ")))"
                )
            }
            let have = Set(files.map(\.shard))
            guard have.count == files.count, have == Set(1...first.of) else {
                throw QVError.badInput(
                    "shards \(files.map(\.shard).sorted()) of \(first.of): each of 1…\(first.of) exactly once is needed"
                )
            }
            var records: [String: [Harness.BatchRecord]] = [:]
            for f in files { for (k, v) in f.comparisons { records[k, default: []] += v } }
            MergeContext.records = records
        }
        let args = files[0].arguments + (reportDir.map { ["--report-dir", $0] } ?? [])
        var command = try QVerify.parseAsRoot(args)
        try command.run()
    }
}
