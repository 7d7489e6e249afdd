#ifndef QV_PAIR_STATS_H
#define QV_PAIR_STATS_H

#include <stddef.h>
#include <stdint.h>

/// One side of an aligned pair, read in place: int32 storage as (q − zero)·step, or float32 /
/// float64 values as they are.
enum { QV_VALUES_I32 = 0, QV_VALUES_F32 = 1, QV_VALUES_F64 = 2 };
typedef struct {
    const void *data;
    int kind;
    double zero, step;
} qv_values;

enum { QV_PAIR_WORST = 5 };

/// One sample's pass over an aligned pair (the element loop of PairStatistics.add, same double
/// arithmetic in the same order). Inputs first, then what the pass adds to, then its outputs.
typedef struct {
    /// Step of the pair (has_step 0: none), both sides quantized (snap the candidate to whole
    /// steps, round step differences), |Δ| above `threshold` differs, |steps| above `limit` is beyond.
    int has_step, both_quantized;
    double step, threshold, limit;
    /// Histogram bins by index (2·cap + 4 of them: −cap…cap, nan, >cap, <−cap), and the bins
    /// counted for the first time, in order (`used`, `used_count` of them). Both NULL until the
    /// first count, then allocated by the pass: free them with qv_pair_pass_free.
    int64_t cap;
    int64_t *bin_counts;
    int32_t *used;
    int64_t used_count;
    /// Running statistics.
    int64_t count, differing, beyond;
    double max_abs, sum_abs, sum_ref_sq, sum_noise_sq, sum_products, sum_cand_sq;
    /// This sample's largest |Δ| (snapped; NaN ranks as +inf), largest first, lower index first
    /// among equals: index, key, reference and (unsnapped) candidate.
    int worst_n;
    int64_t worst_index[QV_PAIR_WORST];
    double worst_key[QV_PAIR_WORST], worst_ref[QV_PAIR_WORST], worst_cand[QV_PAIR_WORST];
    /// The elements beyond `limit` (capacity n each, may be NULL to only count them): index,
    /// reference and snapped candidate.
    int64_t *beyond_index;
    double *beyond_ref, *beyond_cand;
} qv_pair_pass;

/// Runs the pass over n elements of `ref` and `cand`.
void qv_pair_pass_run(qv_pair_pass *p, qv_values ref, qv_values cand, size_t n);
/// Frees the pass's histogram buffers.
void qv_pair_pass_free(qv_pair_pass *p);

/// How many of the n values x have (float)x · sf within two float32 ulps of a rounding boundary
/// (x.5): TieRule.isNearTie of a multiplying rule.
int64_t qv_count_near_ties(qv_values x, size_t n, float sf);

#endif
