import ArgumentParser
import Foundation
import QVGraph
import QVKernels
import QVYardstick
import QVRecipe

@main
struct QVerify: ParsableCommand {
    static let version = Recipe.version
    static let configuration = CommandConfiguration(
        commandName: "qverify",
        abstract: "Convert Aidge post-training-quantized models to ONNX QDQ/QOP and prove the conversion right.",
        discussion: """
            Exit codes: 0 equivalent / success, 1 discrepancy found, 2 bad input or usage, 3 internal error (a bug in qverify).
            """,
        version: version,
        // Every subcommand names itself (commandName): deriving the name from the type costs
        // ~1 ms of reflection at each start.
        subcommands: [
            Verify.self, Compare.self, Check.self, Convert.self, Run.self, Inspect.self, Reduce.self, Merge.self,
            Resave.self, Profile.self,
        ])

    /// Like ArgumentParser's main, but usage errors exit with 2 (qverify's "bad input or usage")
    /// instead of 64; help and --version exit 0; commands choose 0/1/2 themselves.
    static func main() {
        selectBLASKernel()
        BLAS.stopThreadPool()
        // QVERIFY_KERNEL_PATH=portable|avx2+fma|avx512f: the C kernels' instruction path (every
        // path gives the same bits; for measuring another host's speed on this one).
        if let p = ProcessInfo.processInfo.environment["QVERIFY_KERNEL_PATH"] { OnnxruntimeGemm.kernelPath = p }
        // Activations are large, short-lived buffers: keep freed ones in the heap for reuse
        // instead of returning them to the kernel (page faults on every sample otherwise).
        #if os(Linux)
        _ = glibcMallopt(-3 /* M_MMAP_THRESHOLD */, 512 << 20)
        _ = glibcMallopt(-1 /* M_TRIM_THRESHOLD */, 1 << 30)
        #endif
        Foundation.exit(execute(Array(CommandLine.arguments.dropFirst())))
    }

    /// Runs one command line (without the program name) and returns its exit code: what `main`
    /// does after the process set-up, callable in-process (the CLI tests run commands this way).
    /// Output goes to this process's stdout and stderr.
    static func execute(_ args: [String]) -> Int32 {
        Invocation.arguments = args
        defer { MergeContext.records = nil }
        if let message = usageProblem(args) {
            printErr("qverify: error: \(message)")
            return 2
        }
        do {
            var command = try parseAsRoot(args)
            try command.run()
            return 0
        } catch let code as ExitCode {
            return code.rawValue
        } catch {
            let code = exitCode(for: error)
            if code == .success {  // help and --version
                print(fullMessage(for: error))
                return 0
            }
            printErr(fullMessage(for: error))
            return code == .validationFailure ? 2 : code.rawValue
        }
    }
}

/// The command line being run (without the program name), as `QVerify.execute` was given it.
enum Invocation {
    nonisolated(unsafe) static var arguments: [String] = Array(CommandLine.arguments.dropFirst())
}

extension QVerify {
    /// What argument-parser would misreport: an unknown command (it says "unexpected arguments"),
    /// `help` of an unknown command (it prints the main help, exit 0), a mistyped option (it
    /// reports a required option as missing instead). Nil when the line is fine as far as names go.
    static func usageProblem(_ args: [String]) -> String? {
        guard let first = args.first, !first.hasPrefix("-") else { return nil }
        let commands = configuration.subcommands
        let names = commands.map { $0._commandName }
        let listed = commands.filter { $0.configuration.shouldDisplay }.map { $0._commandName }
        func unknownCommand(_ name: String) -> String {
            let near = nearest(name, names).map { "; did you mean '\($0)'?" } ?? ""
            return "unknown command '\(name)'\(near) (commands: \(listed.joined(separator: ", ")))"
        }
        if first == "help" {
            if args.count > 1, !args[1].hasPrefix("-"), !names.contains(args[1]) { return unknownCommand(args[1]) }
            return nil
        }
        guard let command = commands.first(where: { $0._commandName == first }) else { return unknownCommand(first) }
        // The command's long options, as its help lists them.
        let help = command.helpMessage(columns: 10_000)
        let known = Set(
            help.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "-") }).map(String.init).filter {
                $0.hasPrefix("--")
            })
        for a in args.dropFirst() {
            if a == "--" { break }
            guard a.hasPrefix("--"), a.count > 2 else { continue }
            let name = String(a.split(separator: "=", maxSplits: 1)[0])
            if !known.contains(name) {
                let near = nearest(name, Array(known)).map { "; did you mean '\($0)'?" } ?? ""
                return "unknown option '\(name)' for qverify \(first)\(near)"
            }
        }
        return nil
    }

    /// The candidate closest to `word` by edit distance, if it is close enough to be a typo.
    static func nearest(_ word: String, _ candidates: [String]) -> String? {
        func distance(_ a: [Character], _ b: [Character]) -> Int {
            var row: [Int] = Array(0...b.count)
            for i in 0..<a.count {
                var diagonal: Int = row[0]
                row[0] = i + 1
                for j in 0..<b.count {
                    let above: Int = row[j + 1]
                    let cost: Int = a[i] == b[j] ? 0 : 1
                    var best: Int = above + 1
                    if row[j] + 1 < best { best = row[j] + 1 }
                    if diagonal + cost < best { best = diagonal + cost }
                    row[j + 1] = best
                    diagonal = above
                }
            }
            return row[b.count]
        }
        let w = Array(word)
        var best: (name: String, d: Int)? = nil
        for c in candidates.sorted() {
            let d = distance(w, Array(c))
            if best == nil || d < best!.d { best = (c, d) }
        }
        guard let best, best.d <= max(2, word.count / 3) else { return nil }
        return best.name
    }
}

/// Runs a command body, turning its errors into one line on stderr: bad input (qverify's own
/// errors, filesystem errors named by path) exits 2; anything else is a bug in qverify and exits
/// 3 with the command line to report.
func runReportingErrors(_ body: () throws -> Void) throws {
    do {
        // For the tests of exit code 3: a broken contract on demand.
        if ProcessInfo.processInfo.environment["QVERIFY_FAULT"] == "internal" {
            throw QVError.internalError("fault injected by QVERIFY_FAULT=internal")
        }
        try body()
    } catch let e as QVError {
        if case .internalError = e.root {
            internalError(e.description.replacingOccurrences(of: "internal error: ", with: ""))
        }
        printErr("qverify: error: \(e.description)")
        throw ExitCode(2)
    } catch let e as ExitCode {
        throw e
    } catch let e as ValidationError {
        throw e
    } catch let e as NSError where [NSCocoaErrorDomain, NSPOSIXErrorDomain].contains(e.domain) {
        printErr("qverify: error: \(OutputPaths.path(of: e) ?? "file"): \(OutputPaths.problem(e))")
        throw ExitCode(2)
    } catch {
        internalError("\(error)")
    }
}

/// Exit code 3: qverify broke its own contract (not the user's input).
func internalError(_ message: String) -> Never {
    let command = (["qverify"] + Invocation.arguments).map { $0.contains(" ") ? "'\($0)'" : $0 }.joined(separator: " ")
    printErr(
        "qverify: internal error: \(message)\nqverify: this is a bug in qverify, not in your model; please report it with the command that shows it:\n  \(command)"
    )
    Foundation.exit(3)
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
        let flagsLine = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
    else { return }
    let flags = Set(flagsLine.split(separator: ":").last?.split(separator: " ").map(String.init) ?? [])
    guard let better = BLAS.betterCoreType(cpuFlags: flags, current: BLAS.coreName) else { return }
    setenv("OPENBLAS_CORETYPE", better, 1)
    // OpenBLAS sizes its thread pool when it loads; with --threads N say so now, or its idle
    // workers spin on another core.
    let args = CommandLine.arguments
    if env["OPENBLAS_NUM_THREADS"] == nil, let i = args.firstIndex(of: "--threads"), i + 1 < args.count,
        let n = Int(args[i + 1]), n >= 1
    {
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
