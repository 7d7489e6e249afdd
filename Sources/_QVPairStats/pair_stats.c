// The element loops of qverify's comparison statistics (PairStatistics.add, TieRule.isNearTie) in
// C: the same double and float arithmetic as the Swift they replace, without its per-element
// array traffic and libm calls. Bits must not depend on contraction: no FMA here.
#pragma STDC FP_CONTRACT OFF

#include "qv_pair_stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// Round half to even without a libm call (x86-64's baseline has no roundsd): adding 2^52 to a
// magnitude below 2^52 rounds it to an integer in the default rounding mode; larger magnitudes,
// infinities and NaN are their own rounding. Keeps the sign of zero, as nearbyint does.
static inline double round_even(double x) {
    const double big = 4503599627370496.0;  // 2^52
    const double m = fabs(x), r = copysign((m + big) - big, x);  // selects, no branches: vectorizes
    return m < big ? r : x;
}

// floorf without a libm call, by the same device at float precision (2^23).
static inline float floor_float(float x) {
    const float big = 8388608.0f;  // 2^23
    const float m = fabsf(x);
    if (!(m < big)) return x;
    const float r = copysignf((m + big) - big, x);
    return r > x ? r - 1.0f : r;
}

// The distance from a non-negative float to the next larger one (Float.ulp for finite values:
// the largest finite one gives +inf here, whose comparisons in the callers come out the same).
static inline float ulp_up(float m) {
    uint32_t b;
    memcpy(&b, &m, 4);
    b += 1;
    float next;
    memcpy(&next, &b, 4);
    return next - m;
}

#define QV_VALUE(KIND, V, J)                                                                                  \
    ((KIND) == QV_VALUES_I32   ? ((double)((const int32_t *)(V).data)[J] - (V).zero) * (V).step            \
     : (KIND) == QV_VALUES_F32 ? (double)((const float *)(V).data)[J]                                       \
                               : ((const double *)(V).data)[J])

// Keeps the QV_PAIR_WORST largest keys: a new element goes after every kept one with a key at
// least as large (kept elements come from lower indices).
static void note_worst(qv_pair_pass *p, int64_t j, double key, double r, double c) {
    if (p->worst_n == QV_PAIR_WORST && p->worst_key[QV_PAIR_WORST - 1] >= key) return;
    int at = p->worst_n;
    while (at > 0 && p->worst_key[at - 1] < key) at--;
    int last = p->worst_n < QV_PAIR_WORST ? p->worst_n : QV_PAIR_WORST - 1;
    for (int k = last; k > at; k--) {
        p->worst_index[k] = p->worst_index[k - 1];
        p->worst_key[k] = p->worst_key[k - 1];
        p->worst_ref[k] = p->worst_ref[k - 1];
        p->worst_cand[k] = p->worst_cand[k - 1];
    }
    p->worst_index[at] = j;
    p->worst_key[at] = key;
    p->worst_ref[at] = r;
    p->worst_cand[at] = c;
    if (p->worst_n < QV_PAIR_WORST) p->worst_n++;
}

static void add_bin(qv_pair_pass *p, double ds) {
    const int64_t cap = p->cap;
    if (!p->bin_counts) {
        p->bin_counts = calloc((size_t)(2 * cap + 4), sizeof(int64_t));
        p->used = malloc((size_t)(2 * cap + 4) * sizeof(int32_t));
        if (!p->bin_counts || !p->used) abort();
    }
    int64_t i;
    if (isnan(ds)) i = 2 * cap + 1;
    else {
        const double k = round_even(ds);
        i = k > (double)cap ? 2 * cap + 2 : k < -(double)cap ? 2 * cap + 3 : (int64_t)k + cap;
    }
    if (p->bin_counts[i] == 0) p->used[p->used_count++] = (int32_t)i;
    p->bin_counts[i]++;
}

void qv_pair_pass_free(qv_pair_pass *p) {
    free(p->bin_counts);
    free(p->used);
    p->bin_counts = NULL;
    p->used = NULL;
}

// Elements go through in blocks: first every element's values, snapped candidate, |Δ| and step
// difference (no dependence between elements: the compiler vectorizes it), then the running sums
// in element order (so the bits do not depend on the block size) with the rare work (worst
// elements, histogram, beyond) behind branches.
enum { BLOCK = 256 };

// The loop for one pair of value kinds (constants, so each instance reads its storage directly).
// Running sums live in locals: through `p` every element would store and reload them.
static inline __attribute__((always_inline)) void pass(qv_pair_pass *p, qv_values ref, qv_values cand, size_t n,
                                                       int kr, int kc) {
    const int snap = p->both_quantized && p->has_step, has_step = p->has_step, both = p->both_quantized;
    const double st = p->step, threshold = p->threshold, limit = p->limit;
    int64_t differing = 0, beyond = p->beyond;
    double max_abs = p->max_abs, sum_abs = p->sum_abs, sum_ref_sq = p->sum_ref_sq, sum_noise_sq = p->sum_noise_sq,
           sum_products = p->sum_products, sum_cand_sq = p->sum_cand_sq;
    double rv[BLOCK], c0v[BLOCK], cv[BLOCK], ev[BLOCK], dsv[BLOCK];
    // Integers on both sides with one zero point: where they are equal, the values are r and
    // (q − z)·s_c, whose step difference d is below 1e-3 while |q − z| ≤ qmax, so the candidate
    // snaps to r exactly (e = 0, ds = 0; the snap adds 0·st) — with identical steps it is r
    // anyway. A block of such elements only adds r² to the three product sums.
    const int ints = kr == QV_VALUES_I32 && kc == QV_VALUES_I32 && ref.zero == cand.zero;
    const double gap = fabs(ref.step - cand.step) + 0x1p-50 * fmax(ref.step, cand.step);
    const double qmax = ints && (snap || ref.step == cand.step) ? (snap ? 1e-4 * st / gap : 2147483648.0) : -1;
    const int32_t *ia = ref.data, *ib = cand.data;
    const int32_t zi = (int32_t)ref.zero;
    const int exact_zero = ints && (double)zi == ref.zero;
    for (size_t j0 = 0; j0 < n; j0 += BLOCK) {
        const size_t m = n - j0 < BLOCK ? n - j0 : BLOCK;
        if (exact_zero && qmax >= 0) {
            int same = 1;
            for (size_t i = 0; i < m; i++) {
                const int64_t q = ia[j0 + i], dq = q - zi;
                same &= (ia[j0 + i] == ib[j0 + i]) & ((double)(dq < 0 ? -dq : dq) <= qmax);
            }
            if (same) {
                for (size_t i = 0; i < m; i++) {
                    const double r = QV_VALUE(kr, ref, j0 + i), rr = r * r;
                    differing += 0 > threshold;
                    max_abs = 0 >= max_abs ? 0 : max_abs;
                    sum_ref_sq += rr;
                    sum_products += rr;
                    sum_cand_sq += rr;
                }
                continue;
            }
        }
#pragma clang loop vectorize(enable) interleave(enable)
        for (size_t i = 0; i < m; i++) {
            const double r = QV_VALUE(kr, ref, j0 + i), c0 = QV_VALUE(kc, cand, j0 + i);
            const double d = (c0 - r) / st, k = round_even(d);
            const double c = snap && fabs(d - k) < 1e-3 ? r + k * st : c0;
            // Both quantized: the rounded step difference is k, snapped or not, while |k| is far
            // below 2^40 (where (r + k·st − r) / st cannot round to another integer).
            const double ds = both ? (fabs(k) < 1099511627776.0 ? k : round_even((c - r) / st)) : (c - r) / st;
            rv[i] = r;
            c0v[i] = c0;
            cv[i] = c;
            ev[i] = fabs(r - c);
            dsv[i] = ds;
        }
        for (size_t i = 0; i < m; i++) {
            const double r = rv[i], c = cv[i], e = ev[i];
            differing += e > threshold;
            max_abs = e >= max_abs ? e : max_abs;
            sum_abs += e;
            sum_ref_sq += r * r;
            sum_noise_sq += e * e;
            sum_products += r * c;
            sum_cand_sq += c * c;
            if (e > 0 || isnan(e)) note_worst(p, (int64_t)(j0 + i), isnan(e) ? INFINITY : e, r, c0v[i]);
            const double ds = dsv[i];
            if (!has_step || ds == 0) continue;
            add_bin(p, ds);
            if (fabs(ds) > limit) {
                if (p->beyond_index) {
                    p->beyond_index[beyond] = (int64_t)(j0 + i);
                    p->beyond_ref[beyond] = r;
                    p->beyond_cand[beyond] = c;
                }
                beyond++;
            }
        }
    }
    p->count += (int64_t)n;
    p->differing += differing;
    p->beyond = beyond;
    p->max_abs = max_abs;
    p->sum_abs = sum_abs;
    p->sum_ref_sq = sum_ref_sq;
    p->sum_noise_sq = sum_noise_sq;
    p->sum_products = sum_products;
    p->sum_cand_sq = sum_cand_sq;
}

void qv_pair_pass_run(qv_pair_pass *p, qv_values ref, qv_values cand, size_t n) {
#define QV_PASS_CASE(KR, KC)                                                                                  \
    if (ref.kind == (KR) && cand.kind == (KC)) return pass(p, ref, cand, n, (KR), (KC));
    QV_PASS_CASE(QV_VALUES_I32, QV_VALUES_I32)
    QV_PASS_CASE(QV_VALUES_I32, QV_VALUES_F32)
    QV_PASS_CASE(QV_VALUES_F32, QV_VALUES_I32)
    QV_PASS_CASE(QV_VALUES_F32, QV_VALUES_F32)
#undef QV_PASS_CASE
    // Float64 on either side (converted values): one generic instance.
    pass(p, ref, cand, n, ref.kind == QV_VALUES_F64 ? QV_VALUES_F64 : ref.kind,
         cand.kind == QV_VALUES_F64 ? QV_VALUES_F64 : cand.kind);
}

int64_t qv_count_near_ties(qv_values x, size_t n, float sf) {
    int64_t count = 0;
#define QV_NEAR_TIES(K)                                                                                       \
    for (size_t j = 0; j < n; j++) {                                                                          \
        const float v = (float)QV_VALUE(K, x, j), pr = v * sf, m = fabsf(pr);                                 \
        count += fabsf((pr - floor_float(pr)) - 0.5f) <= 2 * ulp_up(m);                                       \
    }
    if (x.kind == QV_VALUES_I32) { QV_NEAR_TIES(QV_VALUES_I32) }
    else if (x.kind == QV_VALUES_F32) { QV_NEAR_TIES(QV_VALUES_F32) }
    else { QV_NEAR_TIES(QV_VALUES_F64) }
#undef QV_NEAR_TIES
    return count;
}
