/// Every failure qverify reports. `description` is one line meant for a person; each layer
/// adds where it happened with ``withContext(_:)``.
public enum QVError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The input (a model, a tensor file, a command-line value) cannot be used: exit code 2.
    case badInput(String)
    /// The model uses something qverify does not implement: exit code 2.
    case unsupported(String)
    /// A contract inside qverify was broken; a bug, not the user's fault.
    case internalError(String)
    indirect case context(String, QVError)

    public var description: String {
        switch self {
        case .badInput(let m), .unsupported(let m): m
        case .internalError(let m): "internal error: \(m)"
        case .context(let where_, let inner): "\(where_): \(inner.description)"
        }
    }

    /// The innermost error without context.
    public var root: QVError {
        if case .context(_, let inner) = self { return inner.root }
        return self
    }

    /// This error said at `where_`; unchanged when it already begins there (a reader that names
    /// its file, inside a command that adds the file again).
    public func withContext(_ where_: String) -> QVError {
        description.hasPrefix(where_ + ": ") ? self : .context(where_, self)
    }
}

/// Runs `body`, prefixing any ``QVError`` it throws with `context`.
@inlinable
public func withContext<T>(_ context: @autoclosure () -> String, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as QVError { throw e.withContext(context()) }
}
