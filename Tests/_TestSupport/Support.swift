import Foundation
import QVGraph
import QVKernels
import QVIO

/// Paths and helpers shared by the test bundles.
public enum TestPaths {
    /// The package root, found from this file's location.
    public static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    public static let reference = root.appendingPathComponent("Reference")
    public static let badFixtures = root.appendingPathComponent("Tests/Fixtures/bad")

    public static func reference(_ rel: String) -> String { reference.appendingPathComponent(rel).path }

    /// Every `.onnx` file under Reference/, sorted, as paths relative to Reference/ — except
    /// onnxruntime's `*.optimized.onnx` records under ort-isa/ (its own hardware-specific NHWC
    /// graphs, kept as a record of what it ran, not models a user hands qverify).
    public static func referenceModels() -> [String] {
        let e = FileManager.default.enumerator(atPath: reference.path)!
        return (e.allObjects as! [String]).filter { $0.hasSuffix(".onnx") && !$0.hasSuffix(".optimized.onnx") }.sorted()
    }

    /// The built `qverify` executable, beside the test bundle.
    public static var qverify: URL {
        if let p = ProcessInfo.processInfo.environment["QVERIFY_BIN"] { return URL(fileURLWithPath: p) }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let c = dir.appendingPathComponent("qverify")
            if FileManager.default.isExecutableFile(atPath: c.path) { return c }
            dir = dir.deletingLastPathComponent()
        }
        return root.appendingPathComponent(".build/debug/qverify")
    }
}

public struct CommandResult {
    public var exitCode: Int32
    public var stdout: String
    public var stderr: String
    public init(exitCode: Int32, stdout: String, stderr: String) {
        self.exitCode = exitCode
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Runs the qverify binary with `args` (no stdin) as a child process, waiting for it to finish.
/// The CLI tests run commands in-process (`runQVerify`); this is for what only a process shows:
/// `main`'s set-up, environment variables, exit code 3.
public func runQVerifyProcess(
    _ args: [String], cwd: URL = TestPaths.root, environment: [String: String] = [:]
) throws -> CommandResult {
    let p = Process()
    p.executableURL = TestPaths.qverify
    p.arguments = args
    if !environment.isEmpty {
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
    }
    p.currentDirectoryURL = cwd
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return CommandResult(
        exitCode: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
        stderr: String(decoding: e, as: UTF8.self))
}

/// How two tensors compare: integer tensors must be equal; float tensors within a relative
/// tolerance of 1e-5 (|a − b| ≤ 1e-5 · max(1, |b|)).
public struct TensorDiff: CustomStringConvertible {
    public var differing: Int
    public var count: Int
    public var maxAbs: Double
    public var exact: Bool
    public var description: String {
        "\(differing)/\(count) differ (max |Δ| \(maxAbs), \(exact ? "exact" : "rel 1e-5"))"
    }
    public var ok: Bool { differing == 0 }

    public init(_ a: Tensor, _ b: Tensor) {
        let x = a.asDoubles() ?? [], y = b.asDoubles() ?? []
        exact = !(a.dtype.isFloatingPoint || b.dtype.isFloatingPoint)
        count = y.count
        var d = 0, m = 0.0
        if x.count != y.count {
            d = max(x.count, y.count)
        } else {
            for i in 0..<y.count {
                let e = abs(x[i] - y[i])
                m = max(m, e)
                if exact ? e != 0 : e > 1e-5 * max(1, abs(y[i])) { d += 1 }
            }
        }
        differing = d
        maxAbs = m
    }
}

/// Runs `body` once per C kernel path this CPU has ("portable", "avx2+fma", "avx512f"), restoring
/// the chosen path after; returns how many ran. Results must not depend on the machine.
@discardableResult
public func forEveryKernelPath(_ body: (String) throws -> Void) rethrows -> Int {
    let original = OnnxruntimeGemm.kernelPath
    defer { OnnxruntimeGemm.kernelPath = original }
    var paths = 0
    for path in ["portable", "avx2+fma", "avx512f"] {
        OnnxruntimeGemm.kernelPath = path
        guard OnnxruntimeGemm.kernelPath == path else { continue }  // this CPU lacks it
        paths += 1
        try body(path)
    }
    return paths
}
