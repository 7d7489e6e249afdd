import ArgumentParser
import QVGraph
import QVIO

/// Loads a model into the IR and writes it back: what `scripts/check_roundtrip.py` checks.
struct Resave: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resave",
        abstract: "Load a model into qverify's IR and save it again unchanged (round-trip check).",
        shouldDisplay: false)

    @Argument var model: String
    @Option(name: .shortAndLong) var output: String

    func run() throws {
        try runReportingErrors {
            try OutputPaths.file(output, option: "-o")
            try OnnxFile.save(try OnnxFile.load(model), to: output)
        }
    }
}
