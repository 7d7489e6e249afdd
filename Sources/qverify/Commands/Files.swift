import Foundation
import QVGraph

/// Where qverify writes: folders and files checked before any work, errors as one
/// `qverify: error: PATH: problem` line (exit 2) instead of Foundation's error dumps.
enum OutputPaths {
    /// Makes `path` a folder (with its parents) for `option`; a file in the way is bad input.
    static func folder(_ path: String, option: String) throws {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDir) {
            guard isDir.boolValue else { throw QVError.badInput("\(path): is a file; \(option) needs a folder") }
            return
        }
        do { try fm.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw QVError.badInput("\(path): cannot create the folder for \(option): \(problem(error))")
        }
    }

    /// Checks that `path` can be written as a file for `option`, creating its parent folders.
    static func file(_ path: String, option: String) throws {
        var isDir: ObjCBool = false
        if path.hasSuffix("/") || (FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue)
        {
            throw QVError.badInput(
                "\(path): is a folder; \(option) needs a file name (e.g. \((path as NSString).appendingPathComponent("model.onnx")))"
            )
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty { try folder(parent, option: option) }
    }

    /// A filesystem error in plain words (Foundation's codes, the POSIX reason underneath).
    static func problem(_ error: Error) -> String {
        let ns = error as NSError
        if let u = ns.userInfo[NSUnderlyingErrorKey] as? NSError, u.domain == NSPOSIXErrorDomain,
            let s = strerror(Int32(u.code))
        {
            return String(cString: s).lowercased()
        }
        if ns.domain == NSPOSIXErrorDomain, let s = strerror(Int32(ns.code)) { return String(cString: s).lowercased() }
        switch CocoaError.Code(rawValue: ns.code) {
        case .fileNoSuchFile, .fileReadNoSuchFile: return "no such file or folder"
        case .fileWriteFileExists: return "a file is in the way"
        case .fileReadNoPermission, .fileWriteNoPermission: return "permission denied"
        case .fileWriteOutOfSpace: return "no space left on device"
        case .fileWriteVolumeReadOnly: return "read-only file system"
        case .fileWriteUnknown: return "cannot write there"
        default: return ns.localizedDescription
        }
    }

    /// The path a Foundation filesystem error names, if any.
    static func path(of error: Error) -> String? {
        let ns = error as NSError
        return ns.userInfo[NSFilePathErrorKey] as? String ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
    }
}

/// A report folder written as a unit: everything goes into a hidden sibling (`.NAME.partial-PID`)
/// that replaces the folder only when the run completes. An interrupted or failed run leaves the
/// previous report whole, and no file of an earlier run survives into the new one.
final class ReportFolder {
    /// Where the report ends up (the name reports and stdout use).
    let path: String
    /// Where everything is written until ``commit()``.
    let staging: String
    private var committed = false

    init(_ path: String) throws {
        let fm = FileManager.default
        let clean = (path as NSString).standardizingPath
        self.path = clean
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: clean, isDirectory: &isDir), !isDir.boolValue {
            throw QVError.badInput("\(path): is a file; --report-dir needs a folder")
        }
        let parent = (clean as NSString).deletingLastPathComponent
        if !parent.isEmpty { try OutputPaths.folder(parent, option: "--report-dir") }
        let name = (clean as NSString).lastPathComponent
        staging = ((parent.isEmpty ? "." : parent) as NSString).appendingPathComponent(".\(name).partial-\(getpid())")
        try? fm.removeItem(atPath: staging)
        do { try fm.createDirectory(atPath: staging, withIntermediateDirectories: false) } catch {
            throw QVError.badInput(
                "\(parent.isEmpty ? "." : parent): cannot write the report folder there: \(OutputPaths.problem(error))")
        }
    }

    /// Puts the finished folder in place of the previous one (if any).
    func commit() throws {
        let fm = FileManager.default
        let old = staging.replacingOccurrences(of: ".partial-", with: ".old-")
        do {
            if fm.fileExists(atPath: path) { try fm.moveItem(atPath: path, toPath: old) }
            try fm.moveItem(atPath: staging, toPath: path)
        } catch {
            throw QVError.badInput("\(path): cannot put the report in place: \(OutputPaths.problem(error))")
        }
        try? fm.removeItem(atPath: old)
        committed = true
    }

    deinit {
        if !committed { try? FileManager.default.removeItem(atPath: staging) }
    }
}
