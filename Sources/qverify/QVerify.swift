import ArgumentParser
import Foundation
import QVGraph

@main
struct QVerify: ParsableCommand {
    static let version = "0.1.0"
    static let configuration = CommandConfiguration(
        commandName: "qverify",
        abstract: "Convert Aidge post-training-quantized models to ONNX QDQ/QOP and prove the conversion right.",
        discussion: """
            Exit codes: 0 equivalent / success, 1 discrepancy found, 2 bad input or usage.
            """,
        version: version,
        subcommands: [Verify.self, Compare.self, Check.self, Convert.self, Run.self, Inspect.self, Resave.self, Profile.self])

    /// Like ArgumentParser's main, but usage errors exit with 2 (qverify's "bad input or usage")
    /// instead of 64; help and --version exit 0; commands choose 0/1/2 themselves.
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            Foundation.exit(code.rawValue)
        } catch {
            let code = exitCode(for: error)
            if code == .success { exit(withError: error) }
            FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            Foundation.exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }
}

/// Runs a command body, turning qverify errors into one line on stderr and exit code 2.
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as QVError {
        FileHandle.standardError.write(Data("qverify: error: \(e.description)\n".utf8))
        throw ExitCode(2)
    }
}

func printErr(_ s: String) {
    FileHandle.standardError.write(Data((s + "\n").utf8))
}
