import ArgumentParser
import Foundation
import QVGraph
import QVKernels

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
        // Every subcommand names itself (commandName): deriving the name from the type costs
        // ~1 ms of reflection at each start.
        subcommands: [Verify.self, Compare.self, Check.self, Convert.self, Run.self, Inspect.self, Merge.self, Resave.self, Profile.self])

    /// Like ArgumentParser's main, but usage errors exit with 2 (qverify's "bad input or usage")
    /// instead of 64; help and --version exit 0; commands choose 0/1/2 themselves.
    static func main() {
        selectBLASKernel()
        BLAS.stopThreadPool()
        // Activations are large, short-lived buffers: keep freed ones in the heap for reuse
        // instead of returning them to the kernel (page faults on every sample otherwise).
        #if os(Linux)
        _ = glibcMallopt(-3 /* M_MMAP_THRESHOLD */, 512 << 20)
        _ = glibcMallopt(-1 /* M_TRIM_THRESHOLD */, 1 << 30)
        #endif
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

/// OpenBLAS reads OPENBLAS_CORETYPE when it loads, before main(). If its detection fell back to an
/// old kernel on a CPU that supports a much faster one, start again with that kernel selected.
/// A user's own OPENBLAS_CORETYPE always wins; QVERIFY_KEEP_BLAS_KERNEL=1 disables this. Only
/// `profile` restarts: it times OpenBLAS's sgemm as the yardstick for each conv. Graph
/// evaluation no longer calls OpenBLAS (its summation order is not fixed; see OnnxruntimeGemm),
/// so the other commands do not pay ~10 ms for a second start.
func selectBLASKernel() {
    guard CommandLine.arguments.count > 1, CommandLine.arguments[1] == "profile" else { return }
    let env = ProcessInfo.processInfo.environment
    guard env["OPENBLAS_CORETYPE"] == nil, env["QVERIFY_KEEP_BLAS_KERNEL"] == nil,
          let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
          let flagsLine = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return }
    let flags = Set(flagsLine.split(separator: ":").last?.split(separator: " ").map(String.init) ?? [])
    guard let better = BLAS.betterCoreType(cpuFlags: flags, current: BLAS.coreName) else { return }
    setenv("OPENBLAS_CORETYPE", better, 1)
    // OpenBLAS sizes its thread pool when it loads; with --threads N say so now, or its idle
    // workers spin on another core.
    let args = CommandLine.arguments
    if env["OPENBLAS_NUM_THREADS"] == nil, let i = args.firstIndex(of: "--threads"), i + 1 < args.count, let n = Int(args[i + 1]), n >= 1 {
        setenv("OPENBLAS_NUM_THREADS", String(n), 1)
    }
    setenv("QVERIFY_KEEP_BLAS_KERNEL", "1", 1)  // never loop
    execv("/proc/self/exe", CommandLine.unsafeArgv)
    // execv returned: carry on with the kernel we have.
}

#if os(Linux)
/// glibc's mallopt (malloc.h is not part of Swift's Glibc module).
@_silgen_name("mallopt")
func glibcMallopt(_ param: Int32, _ value: Int32) -> Int32
#endif
