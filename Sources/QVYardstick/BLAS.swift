import COpenBLAS

/// The only place qverify calls OpenBLAS. Row-major, no transposes unless asked. Graph evaluation
/// does not use it (OpenBLAS's summation order varies with the shape; see OnnxruntimeGemm);
/// `qverify profile` times its sgemm as the yardstick for each convolution.
public enum BLAS {
    /// C[m×n] = alpha · op(A) · op(B) + beta · C, float32.
    public static func sgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }

    /// Stops the worker threads OpenBLAS starts when it loads. Idle, they spin on sched_yield
    /// for a while and took ~15% off a two-thread `qverify run` (measured); graph evaluation
    /// never calls OpenBLAS. A multi-threaded OpenBLAS call would start them again.
    public static func stopThreadPool() { _ = blas_thread_shutdown_() }

    /// The kernel family OpenBLAS selected for this CPU (e.g. "SkylakeX", "Haswell", "Prescott").
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// A better OpenBLAS kernel family than the one in use, when OpenBLAS's own detection fell
    /// back to an old generic one (as it does on some virtualized CPUs) but the CPU's flags
    /// (from /proc/cpuinfo) have every instruction-set extension that family needs.
    public static func betterCoreType(cpuFlags: Set<String>, current: String) -> String? {
        let modern: Set<String> = ["SkylakeX", "Cooperlake", "SapphireRapids", "Haswell", "Zen"]
        guard !modern.contains(current) else { return nil }
        if cpuFlags.isSuperset(of: ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl", "avx2", "fma"]) {
            return "SkylakeX"
        }
        if cpuFlags.isSuperset(of: ["avx2", "fma", "avx"]) { return "Haswell" }
        return nil
    }

}
