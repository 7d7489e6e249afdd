import Foundation
import XCTest
@testable import qverify
import _TestSupport
import QVIO

#if canImport(Glibc)
import Glibc
#endif

/// Runs `qverify args` in this process — `QVerify.execute`, the code `main` runs after its
/// process set-up — with stdout and stderr captured and the working directory set to `cwd`.
/// A command line with `environment` runs as a child process instead (`runQVerifyProcess`):
/// environment variables are read by the process, not per command.
///
/// Starting a process per case cost about 60 ms from the test runner; in-process it costs the
/// command's own work. Commands run one at a time (XCTest runs tests serially), so swapping the
/// process-wide descriptors 1 and 2 and the working directory for the call is safe.
func runQVerify(
    _ args: [String], cwd: URL = TestPaths.root, environment: [String: String] = [:]
) throws -> CommandResult {
    if !environment.isEmpty { return try runQVerifyProcess(args, cwd: cwd, environment: environment) }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qverify-inprocess-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let outPath = dir.appendingPathComponent("stdout").path, errPath = dir.appendingPathComponent("stderr").path
    let outFD = open(outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600),
        errFD = open(errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard outFD >= 0, errFD >= 0 else { throw XCTSkip("cannot create capture files in \(dir.path)") }
    let previousCwd = FileManager.default.currentDirectoryPath
    guard FileManager.default.changeCurrentDirectoryPath(cwd.path) else {
        close(outFD); close(errFD)
        throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: cwd.path])
    }
    fflush(nil)  // every stdio stream (print buffers stdout)
    let savedOut = dup(1), savedErr = dup(2)
    dup2(outFD, 1); dup2(errFD, 2)
    close(outFD); close(errFD)
    let code = QVerify.execute(args)
    fflush(nil)  // every stdio stream (print buffers stdout)
    dup2(savedOut, 1); dup2(savedErr, 2)
    close(savedOut); close(savedErr)
    _ = FileManager.default.changeCurrentDirectoryPath(previousCwd)
    let out = readFileBytes(outPath) ?? [], err = readFileBytes(errPath) ?? []
    return CommandResult(
        exitCode: code, stdout: String(decoding: out, as: UTF8.self), stderr: String(decoding: err, as: UTF8.self))
}
