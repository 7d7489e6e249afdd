import ArgumentParser
import Foundation
import QVGraph
import QVIO

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a model in qverify's reference interpreter.")

    @Argument(help: "The ONNX model file.")
    var model: String

    func run() throws {
        try runReportingErrors {
            _ = try OnnxFile.load(model)
            throw QVError.unsupported("run is not implemented yet")
        }
    }
}
